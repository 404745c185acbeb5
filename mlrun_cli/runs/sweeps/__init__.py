"""Sweeps: one parent run and a child run per point, each made by the one lifecycle.

`spec.py` reads the points (`-S`, `--random`, `--sweep-file`); `plan.py` binds and checks every
point before anything exists; `run.py` runs them under the parent; `jobs.py` is the sweep's view of
a backend that follows one job per worker, `batch.py` the path of a backend that takes the points
together (`submit_many`); `result.py` what the sweep made (each point, the best one, the parent's
end); `detached.py` following a `--detach`ed sweep; `stopping.py` the early-stopping rules (pure
functions of metric histories) and `early_stop.py` the loop that applies them (`--early-stop`).
"""
