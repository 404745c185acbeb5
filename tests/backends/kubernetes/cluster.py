"""A stand-in Kubernetes cluster for the kubernetes tier.

No real API server can run on this machine (none is packaged for Debian or PyPI, and images
cannot be pulled), so:
- the API is kmock's KubernetesEmulator, a pure-Python, stateful emulator of the REST API that
  mlrun reaches through the official client and a kubeconfig, like any cluster;
- the images go to a real registry (Debian's docker-registry) on 127.0.0.1;
- a small fake kubelet, written here, plays the Job controller and the kubelet: it sees each new
  Job, makes its Pod, pulls the Job's image by digest from that registry, runs the container with
  the Job's command, env, working dir and hostPath volumes in the real Docker engine, serves its
  output as the pod log, and sets the Pod's and the Job's status as Kubernetes would; a pod past
  its (lowered) activeDeadlineSeconds is stopped as the kubelet stops it, and the Indexed Job's
  controller fails that index alone (backoffLimitPerIndex 0), as upstream's does.
What this does not prove: scheduling, admission, RBAC, resource limits, real controller
timing and status details, label-selector filtering, and TLS to the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmock
from kubernetes import client as k8s

from tests import tiers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def registry(root: Path) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1."""
    tiers.require("docker")
    port = free_port()
    config = root / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class FakeCluster:
    """The emulated API server and the fake kubelet, each on its own thread."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.logs: dict[str, bytes] = {}
        self.stamped: dict[str, bytes] = {}
        """Each pod's log as the runtime keeps it: every line after its timestamp."""
        self.served: dict[str, int] = {}
        """Bytes of each pod's log the API served (what mlrun's polls cost)."""
        self.seen: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._containers: dict[str, Any] = {}
        self.running: set[str] = set()
        self.peak = 0
        """The most pods of an Indexed Job running at once."""
        self.past_deadline: set[str] = set()
        """Jobs (namespace/name) made to exceed their activeDeadlineSeconds (exceed_deadline)."""

    def __enter__(self) -> FakeCluster:
        tiers.require("kubernetes")
        # The emulator patches aiohttp's resolver for as long as it serves; the next cluster (the
        # next test module's) may only start once this one has put it back, so __exit__ joins it.
        self._server = threading.Thread(target=self._serve_until_stopped, daemon=True)
        self._server.start()
        if not self._ready.wait(30) or not self.url:
            raise RuntimeError(f"kmock did not start: {self.errors}")
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: emulated, cluster: {{server: '{self.url}'}}}}]\n"
            "users: [{name: tester, user: {token: not-checked}}]\n"
            "contexts: [{name: emulated, context: {cluster: emulated, user: tester, namespace: default}}]\n"
            "current-context: emulated\n"
        )
        cfg = k8s.Configuration()
        cfg.host = self.url
        api = k8s.ApiClient(cfg)
        self.core, self.batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
        self._kubelet = threading.Thread(target=self._kubelet_loop, daemon=True)
        self._kubelet.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._kubelet.join(timeout=10)
        self._server.join(timeout=30)
        for container in self._containers.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)
        if self._server.is_alive():
            raise RuntimeError("the kmock emulator did not stop within 30 s")
        if any(error.startswith("emulator:") for error in self.errors):
            raise RuntimeError(f"the kmock emulator failed: {self.errors}")

    def _serve_until_stopped(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as error:  # kept for the test to see, not lost in a daemon thread
            self.errors.append(f"emulator: {type(error).__name__}: {error}")
            self._ready.set()

    async def _serve(self) -> None:
        async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
            self.url = str(server.url).rstrip("/")
            for resource in ("batch/v1/jobs", "v1/pods", "v1/secrets"):
                handler.resources[resource] = {}
            handler[kmock.subresource("log")] << self._pod_log
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.1)

    def _pod_log(self, request: Any) -> bytes:
        """The kubelet's log endpoint: `timestamps` and `tailLines` as the real one takes them."""
        params = request.params or {}
        lines = [line + b"\n" for line in self.stamped.get(request.name, b"").split(b"\n")]
        lines[-1] = lines[-1][:-1]  # what follows the last newline: an unfinished line, or nothing
        lines = [line for line in lines if line]
        if "tailLines" in params:
            lines = lines[max(0, len(lines) - int(params["tailLines"])) :]
        if str(params.get("timestamps", "")).lower() != "true":
            lines = [line.partition(b" ")[2] for line in lines]
        body = b"".join(lines)
        self.served[request.name] = self.served.get(request.name, 0) + len(body)
        return body

    def job(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        try:
            raw = self.batch.read_namespaced_job(name, namespace, _preload_content=False)
        except k8s.exceptions.ApiException:
            return None
        import json

        return json.loads(raw.data)  # type: ignore[no-any-return]

    def exceed_deadline(self, name: str, namespace: str) -> None:
        """What the Job controller does when a Job passes its activeDeadlineSeconds (the emulator
        does not count time): the Job Failed (DeadlineExceeded), its active pods deleted, no new
        pod started."""
        import json

        self.past_deadline.add(f"{namespace}/{name}")
        failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
        status = {"status": {"active": 0, "conditions": [failed]}}
        self.batch.patch_namespaced_job_status(name, namespace, status, _preload_content=False)
        pods = self.core.list_namespaced_pod(
            namespace, label_selector=f"job-name={name}", _preload_content=False
        )
        for pod in json.loads(pods.data).get("items", []):
            mine = (pod["metadata"].get("labels") or {}).get("job-name") == name  # kmock: no selectors
            if mine and (pod.get("status") or {}).get("phase") in ("Pending", "Running"):
                self.core.delete_namespaced_pod(pod["metadata"]["name"], namespace, _preload_content=False)
                container = self._containers.pop(pod["metadata"]["name"], None)
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.kill()

    # The fake kubelet -------------------------------------------------------------------------

    def _kubelet_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._kubelet_pass()
            except Exception as error:  # kept for the test to see; the loop goes on
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.1)

    def _kubelet_pass(self) -> None:
        import json

        jobs = json.loads(self.batch.list_job_for_all_namespaces(_preload_content=False).data)
        present = set()
        for job in jobs.get("items", []):
            key = f"{job['metadata'].get('namespace', 'default')}/{job['metadata']['name']}"
            present.add(key)
            if key not in self.seen:
                self.seen[key] = job
                indexed = job["spec"].get("completionMode") == "Indexed"
                target = self._run_indexed_logged if indexed else self._run_pod_logged
                threading.Thread(target=target, args=(job,), daemon=True).start()
        for key in set(self.seen) - present:
            # The Job was deleted: the garbage collector takes its pods, so their containers stop.
            prefix = f"{key.split('/')[1]}-"
            for pod_name in [p for p in self._containers if p.startswith(prefix)]:
                container = self._containers.pop(pod_name, None)
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.kill()

    def _env(self, container: dict[str, Any], namespace: str) -> dict[str, str]:
        env = {}
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:  # valueFrom.secretKeyRef: read like a kubelet would
                ref = entry["valueFrom"]["secretKeyRef"]
                secret = self.core.read_namespaced_secret(ref["name"], namespace, _preload_content=False)
                import json

                env[entry["name"]] = json.loads(secret.data).get("stringData", {})[ref["key"]]
        return env

    def _run_pod_logged(self, job: dict[str, Any]) -> None:
        try:
            self._run_pod(job)
        except Exception as error:  # reported by the fixture
            self.errors.append(f"pod of {job['metadata']['name']}: {type(error).__name__}: {error}")

    def _run_indexed_logged(self, job: dict[str, Any]) -> None:
        try:
            self._run_indexed(job)
        except Exception as error:  # reported by the fixture
            self.errors.append(f"indexed {job['metadata']['name']}: {type(error).__name__}: {error}")

    def _run_indexed(self, job: dict[str, Any]) -> None:
        """The Job controller for `completionMode: Indexed`: `completions` pods, at most
        `parallelism` at once, each with JOB_COMPLETION_INDEX; completedIndexes and
        failedIndexes as each ends (backoffLimitPerIndex 0: a failed index is not retried)."""
        name, namespace = job["metadata"]["name"], job["metadata"].get("namespace", "default")
        spec = job["spec"]
        todo = list(range(int(spec["completions"])))
        done: dict[int, int] = {}
        lock = threading.Lock()

        def one(index: int) -> None:
            with lock:
                self.running.add(f"{name}/{index}")
                self.peak = max(self.peak, len(self.running))
            try:
                code = self._run_pod(job, index)
            finally:
                with lock:
                    self.running.discard(f"{name}/{index}")
            if code is None:
                return
            with lock:
                done[index] = code
                ok = ",".join(str(i) for i in sorted(done) if done[i] == 0)
                bad = ",".join(str(i) for i in sorted(done) if done[i] != 0)
                codes = list(done.values())
                status: dict[str, Any] = {
                    "completedIndexes": ok, "failedIndexes": bad,
                    "succeeded": codes.count(0), "failed": len(codes) - codes.count(0),
                }  # fmt: skip
                if len(done) == int(spec["completions"]):
                    kind = "Complete" if not bad else "Failed"
                    status |= {"active": 0, "completionTime": _now()}
                    status["conditions"] = [
                        {"type": kind, "status": "True", "reason": "FailedIndexes" if bad else ""}
                    ]
                if self.job(name, namespace) is not None:
                    self.batch.patch_namespaced_job_status(
                        name, namespace, {"status": status}, _preload_content=False
                    )

        workers: list[threading.Thread] = []
        while (
            todo and self.job(name, namespace) is not None and f"{namespace}/{name}" not in self.past_deadline
        ):
            workers = [w for w in workers if w.is_alive()]
            if len(workers) < int(spec.get("parallelism", 1)):
                worker = threading.Thread(target=one, args=(todo.pop(0),), daemon=True)
                worker.start()
                workers.append(worker)
            time.sleep(0.05)
        for worker in workers:
            worker.join()

    def _run_pod(self, job: dict[str, Any], index: int | None = None) -> int | None:
        import docker

        name, namespace = job["metadata"]["name"], job["metadata"].get("namespace", "default")
        pod_name = f"{name}-x7k2p" if index is None else f"{name}-{index}-x7k2p"
        spec = job["spec"]["template"]["spec"]["containers"][0]
        waiting = {
            "name": spec["name"],
            "image": spec["image"],
            "imageID": "",
            "ready": False,
            "restartCount": 0,
        }
        waiting["state"] = {"waiting": {"reason": "ContainerCreating"}}
        labels = {"job-name": name}
        environment = self._env(spec, namespace)
        if index is not None:
            labels["batch.kubernetes.io/job-completion-index"] = str(index)
            environment["JOB_COMPLETION_INDEX"] = str(index)
        pod = {
            "metadata": {"name": pod_name, "labels": labels, "creationTimestamp": _now()},
            "status": {"phase": "Pending", "containerStatuses": [waiting]},
        }
        self.core.create_namespaced_pod(namespace, pod, _preload_content=False)
        if index is None:
            running = {"status": {"active": 1, "startTime": _now()}}
            self.batch.patch_namespaced_job_status(name, namespace, running, _preload_content=False)
        engine = docker.from_env()
        started = time.monotonic()
        image = engine.images.pull(spec["image"])  # by digest, from the registry
        # A pull takes at least half a second on a real node; the pod shows ContainerCreating meanwhile.
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
        pod_spec = job["spec"]["template"]["spec"]
        volumes = pod_spec.get("volumes", [])
        host_paths = {v["name"]: v["hostPath"]["path"] for v in volumes if "hostPath" in v}
        binds = {  # hostPath volumes, mounted from this machine (the node) as a kubelet does
            host_paths[m["name"]]: {"bind": m["mountPath"], "mode": "ro" if m.get("readOnly") else "rw"}
            for m in spec.get("volumeMounts", [])
            if m["name"] in host_paths
        }
        container = engine.containers.run(
            image.id,
            spec["command"],
            environment=environment,
            working_dir=spec.get("workingDir"),
            volumes=binds,
            network_mode="none",
            detach=True,
        )
        self._containers[pod_name] = container
        running = {**waiting, "ready": True, "imageID": image.id, "state": {"running": {"startedAt": _now()}}}
        body = {"status": {"phase": "Running", "containerStatuses": [running]}}
        self.core.patch_namespaced_pod_status(pod_name, namespace, body, _preload_content=False)
        ended, past_deadline = threading.Event(), threading.Event()
        grace = int(pod_spec.get("terminationGracePeriodSeconds", 30))
        threading.Thread(
            target=self._pod_deadline,
            args=(pod_name, namespace, container, time.monotonic(), grace, ended, past_deadline),
            daemon=True,
        ).start()
        try:
            for chunk in container.logs(stream=True, follow=True, timestamps=True):
                self.stamped[pod_name] = self.stamped.get(pod_name, b"") + chunk
                plain = b"\n".join(line.partition(b" ")[2] for line in chunk.split(b"\n") if line)
                plain += b"\n" if chunk.endswith(b"\n") else b""
                self.logs[pod_name] = self.logs.get(pod_name, b"") + plain
            code = int(container.wait()["StatusCode"])
        finally:
            ended.set()
        if self.job(name, namespace) is None or f"{namespace}/{name}" in self.past_deadline:
            return None  # deleted (cancelled), or its pod deleted at the deadline: nothing to report
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
        container_status = {
            "name": spec["name"],
            "image": spec["image"],
            "imageID": image.id,
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": terminated},
        }
        status = {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [container_status]}
        if past_deadline.is_set():
            status["reason"] = "DeadlineExceeded"
        self.core.patch_namespaced_pod_status(pod_name, namespace, {"status": status}, _preload_content=False)
        if index is not None:
            return code  # the indexed controller above reports to the Job
        kind, count = ("Complete", "succeeded") if code == 0 else ("Failed", "failed")
        condition = {"type": kind, "status": "True", "reason": "BackoffLimitExceeded" if code else ""}
        body = {"status": {"active": 0, count: 1, "conditions": [condition], "completionTime": _now()}}
        self.batch.patch_namespaced_job_status(name, namespace, body, _preload_content=False)
        return code

    def _pod_deadline(
        self,
        pod_name: str,
        namespace: str,
        container: Any,
        started: float,
        grace: int,
        ended: threading.Event,
        past: threading.Event,
    ) -> None:
        """The kubelet's pod `activeDeadlineSeconds` (which mlrun lowers on a running pod to stop one
        point of an Indexed Job): past it, the pod is stopped as the kubelet stops it (SIGTERM, the
        pod's terminationGracePeriodSeconds, SIGKILL: `docker stop` does the same) and marked Failed
        with reason DeadlineExceeded; the Job controller above then fails that index alone."""
        import json

        while not ended.wait(0.1):
            try:
                raw = self.core.read_namespaced_pod(pod_name, namespace, _preload_content=False)
            except k8s.exceptions.ApiException:
                continue
            deadline = (json.loads(raw.data).get("spec") or {}).get("activeDeadlineSeconds")
            if deadline is not None and time.monotonic() - started >= int(deadline):
                past.set()
                with contextlib.suppress(Exception):
                    container.stop(timeout=grace)
                return
