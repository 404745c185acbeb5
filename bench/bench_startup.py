"""Start-up and cold environments (issue 15), mlrun against `mlflow` in the same run, with ratios.

Rows, each a whole process, alternating mlrun and mlflow so machine noise hits both alike:

- trivial run: `command: "true"`, `--env-manager local`, recording to a file store;
- `mlrun --help` and `mlrun validate` (MLflow has no validate: both against `mlflow --help`);
- the sklearn example with a cold uv env: the first run (build + run), the second, the tenth;
  then the first and second run of the new env that adding a requirement makes (it starts with
  the bytecode the first env's runs wrote for the files the two share);
  then warm reuse (`-e noop` in the cached env) against `--env-manager local`.

Bytecode is compiled for mlrun's own package first, as a pip install does. The shell's
PYTHONDONTWRITEBYTECODE is kept for the env runs: envs are built without bytecode and the
first run writes what it imports, also under that setting.

    .venv/bin/python bench/bench_startup.py [--runs N] [--no-envs]

Targets: trivial run <= 0.12 s, --help <= 0.06 s, validate <= 0.10 s, sklearn cold <= 8 s,
warm reuse adds <= 30 ms over --env-manager local.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.mlflow_env import ensure_mlflow_python

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = 'name: trivial\nentry_points:\n  main:\n    command: "true"\n'


def _row(name: str, mlrun_s: list[float], mlflow_s: list[float] | None, target: str) -> None:
    ours = statistics.median(mlrun_s)
    if mlflow_s:
        theirs = statistics.median(mlflow_s)
        print(f"{name:<34} {ours:9.3f} {theirs:9.3f} {theirs / ours:7.1f}x  {target}")
    else:
        print(f"{name:<34} {ours:9.3f} {'-':>9} {'-':>8}  {target}")


def _alternate(
    pairs: dict[str, tuple[list[str], dict[str, str]]], runs: int, cwd: Path
) -> dict[str, list[float]]:
    for argv, env in pairs.values():  # warm-up: file caches, the known-project record, stores
        timed(argv, env, cwd)
    times: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(runs):
        for name, (argv, env) in pairs.items():
            times[name].append(timed(argv, env, cwd))
    return times


def startup_rows(work: Path, mlrun: str, mlflow: str, env: dict[str, str], runs: int) -> None:
    project = work / "trivial"
    project.mkdir()
    (project / "MLproject").write_text(TRIVIAL)
    mlflow_store = {**env, "MLFLOW_TRACKING_URI": (work / "mlruns-mlflow").as_uri()}
    local = ["run", str(project), "--env-manager", "local"]
    times = _alternate(
        {
            "mlrun run": ([mlrun, *local, "--tracking-uri", str(work / "mlruns-mlrun")], env),
            "mlflow run": ([mlflow, *local], mlflow_store),
            "mlrun --help": ([mlrun, "--help"], env),
            "mlrun validate": ([mlrun, "validate", str(project)], env),
            "mlflow --help": ([mlflow, "--help"], env),
        },
        runs,
        work,
    )
    print(f"\n{'row (median s, ' + str(runs) + ' runs)':<34} {'mlrun':>9} {'mlflow':>9} {'ratio':>8}  target")
    _row("trivial run, --env-manager local", times["mlrun run"], times["mlflow run"], "<= 0.12 s")
    _row("--help", times["mlrun --help"], times["mlflow --help"], "<= 0.06 s")
    _row("validate (vs mlflow --help)", times["mlrun validate"], times["mlflow --help"], "<= 0.10 s")


def env_rows(work: Path, mlrun: str, env: dict[str, str], mlflow_bin: Path, warm_runs: int) -> None:
    project = work / "sklearn"
    shutil.copytree(REPO / "example_projects" / "sklearn_linear", project)
    home = work / "mlrun-home"
    env = {**env, "MLRUN_HOME": str(home), "MLFLOW_TRACKING_URI": (work / "mlruns-envs").as_uri()}
    main = [mlrun, "run", str(project), "--tracking-uri", str(work / "mlruns-envs")]
    requirements = project / "python_env.yaml"
    original = requirements.read_text()
    changed = original.rstrip() + "\n  - tqdm\n"  # a requirement added: a new env
    print("\nwarming uv's package cache (two builds, not timed) ...", flush=True)
    for text in (changed, original):
        requirements.write_text(text)
        timed(main, env, work)
        shutil.rmtree(home)
    runs = [timed(main, env, work) for _ in range(10)]
    requirements.write_text(changed)
    after_edit = [timed(main, env, work) for _ in range(2)]
    requirements.write_text(original)  # warm reuse below: the env of the ten runs
    print(f"\n{'sklearn example, main (s)':<44} {'first':>9} {'second':>9} {'tenth':>9}  target")
    first, second, tenth = runs[0], runs[1], runs[9]
    print(f"{'cold env (no other env), then warm':<44} {first:9.2f} {second:9.2f} {tenth:9.2f}  first <= 8 s")
    print(f"{'cold env after adding a requirement':<44} {after_edit[0]:9.2f} {after_edit[1]:9.2f} {'':>9}")
    noop = [mlrun, "run", str(project), "-e", "noop", "--tracking-uri", str(work / "mlruns-envs")]
    # `python` on PATH for the local runs: the same interpreter the env was made from.
    local_env = {**env, "PATH": f"{mlflow_bin}:{env['PATH']}"}
    times = _alternate(
        {"cached env": (noop, env), "local": ([*noop, "--env-manager", "local"], local_env)},
        warm_runs,
        work,
    )
    added = statistics.median(times["cached env"]) - statistics.median(times["local"])
    print(
        f"warm reuse: -e noop in the cached env adds {added * 1000:.0f} ms over --env-manager local "
        "(target <= 30 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-envs", action="store_true", help="Skip the cold-env rows (about a minute).")
    args = parser.parse_args()
    compileall.compile_dir(REPO / "mlrun_cli", quiet=1)
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-startup-") as tmp:
        work = Path(tmp)
        env = {**mlflow_env(mlflow_bin, None), "MLRUN_HOME": str(work / "home")}
        started = time.monotonic()
        startup_rows(work, mlrun, str(mlflow_bin / "mlflow"), env, args.runs)
        if not args.no_envs:
            env_rows(work, mlrun, {k: v for k, v in os.environ.items()}, mlflow_bin, args.runs)
        print(f"\n(the whole benchmark took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
