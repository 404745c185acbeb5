"""The application layer: commands that cross engines, beside `runs/` and above
`backends/`, `tracking/` and `envs/`, so that no engine imports another or imports `runs/`.

`env_commands.py` is `mlrun env ...` (a project loaded, its env planned, built, pruned, with the
reap pass first); `ui.py` is `mlrun ui` (MLflow's UI for the tracking URI, MLflow installed once
with uv when missing).
"""
