"""The application layer: what crosses engines, beside `runs/` and above `backends/`, `tracking/`
and `envs/`, so that no engine imports another or imports `runs/`.

`env_commands.py` is `mlrun env ...` (a project loaded, its env planned, built, pruned, with the
reap pass first); `ui.py` is `mlrun ui` (MLflow's UI for the tracking URI, MLflow installed once
with uv when missing); `ownership.py` who owns a running run (a lock it holds); `reaper.py` the
reap pass (`reap_orphans`, which runs and the run commands make first), settling a run whose
mlrun died: its job stopped (a process group, a container), its end recorded from the job folder
or queued in the outbox. Nothing here imports `runs/`.
"""
