"""Tests of the Ray backend (mlrun_cli/backends/ray/), against one real Ray head on 127.0.0.1
(cluster.py)."""
