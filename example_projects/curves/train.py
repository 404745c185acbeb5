"""A training run with a known loss curve: loss = floor + (1 - floor) * exp(-rate * step), logged at
every step (`mlflow.log_metric("loss", loss, step=step)`), `pause` seconds apart. The lower the
floor, the better the end; the higher the rate, the sooner it shows. For early-stopping sweeps
(`mlrun run . -S rate=... -S floor=... --objective loss:min --early-stop asha`).

Without MLflow installed it writes the same lines MLflow's client writes into a file store
(`TIMESTAMP VALUE STEP` in metrics/loss), so it runs with `--env-manager local` anywhere."""

import math
import os
import sys
import time

rate, floor, steps, pause = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

try:
    import mlflow

    def log(value: float, step: int) -> None:
        mlflow.log_metric("loss", value, step=step)

except ImportError:
    store = os.environ.get("MLFLOW_TRACKING_URI", "mlruns").removeprefix("file://")
    experiment, run_id = os.environ.get("MLFLOW_EXPERIMENT_ID", "0"), os.environ.get("MLFLOW_RUN_ID", "none")
    run = os.path.join(store, experiment, run_id)

    def log(value: float, step: int) -> None:
        if not os.path.isdir(run):
            return  # a tracking server (install mlflow) or no tracking: nothing to write into
        os.makedirs(os.path.join(run, "metrics"), exist_ok=True)
        with open(os.path.join(run, "metrics", "loss"), "a") as out:
            out.write(f"{int(time.time() * 1000)} {value!r} {step}\n")


for step in range(steps):
    log(floor + (1 - floor) * math.exp(-rate * step), step)
    print(f"step {step}", flush=True)
    time.sleep(pause)
