"""Tests of the Kubernetes backend (mlrun_cli/backends/kubernetes/), against kmock's emulator of the
API (cluster.py)."""
