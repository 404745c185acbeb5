"""The incremental log readers on their own, fed a log that grows between polls: what each poll
hands out joins up to the whole output, once, in order (the engines are covered by
kubernetes/test_logs.py and ray/test_logs.py)."""

from __future__ import annotations

from mlrun_cli.backends.base import JobRef
from mlrun_cli.backends.kubernetes import logs as kube_logs
from mlrun_cli.backends.ray import logs as ray_logs


def test_a_pods_log_is_read_past_the_last_line_seen_through_growth_and_a_new_pod() -> None:
    ref = JobRef("kubernetes", "job-a", {"namespace": "ns"})
    log: list[bytes] = []
    asked: list[int | None] = []

    def read(tail: int | None) -> bytes:
        asked.append(tail)
        return b"".join(log if tail is None else log[max(0, len(log) - tail) :])

    shown = b""
    for n in range(200):
        log.append(f"2026-12-07T21:50:{n // 10:02d}.{n:09d}Z line {n}\r{n}% done\n".encode())
        if n % 7 == 0 or n % 50 == 49:  # polls at uneven paces: 1 line, 7 lines, bursts
            shown += kube_logs.new_output(ref, "pod-1", len(shown), read)
    shown += kube_logs.new_output(ref, "pod-1", len(shown), read)
    assert shown == b"".join(f"line {n}\r{n}% done\n".encode() for n in range(200))
    assert asked.count(None) == 1  # the whole log once, at the first poll
    # A last line not finished yet is shown, then only its end once it is.
    log.append(b"2026-12-07T21:51:00.000000001Z partial")
    shown += kube_logs.new_output(ref, "pod-1", len(shown), read)
    log[-1] += b" line\n"
    shown += kube_logs.new_output(ref, "pod-1", len(shown), read)
    assert shown.endswith(b"199% done\npartial line\n")
    # Another pod (a retry): its own log, from its start.
    log[:] = [b"2026-12-07T21:52:00.000000001Z again\n"]
    assert kube_logs.new_output(ref, "pod-2", 0, read) == b"again\n"


def test_a_ray_tail_cuts_rays_line_wherever_it_lands_and_hands_out_only_whats_new() -> None:
    tail = ray_logs._Tail("mlrun-r1")
    chunks = [
        "setup\nmlrun: ray job mlrun-r1 starts\n",
        "hel",
        "Running entrypoint for job mlrun-r1: bash /x/job.sh\n",
        "lo\n",
        "more\n",
    ]
    shown = b""
    for chunk in chunks:
        tail.feed(chunk)
        shown += tail.take(len(shown)) or b""
    assert shown == b"hello\nmore\n"
    assert tail.take(0) is None  # what was handed out is not kept
