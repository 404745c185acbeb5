"""Tests of finding runs (mlrun_cli/tracking/search/): MLflow's search grammar, queries, any
tracker."""
