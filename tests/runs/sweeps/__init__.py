"""Tests of sweeps (mlrun_cli/runs/sweeps/): grids and random points, detached sweeps, early
stopping."""
