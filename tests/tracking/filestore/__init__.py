"""Tests of the file store (mlrun_cli/tracking/filestore/): MLflow's layout, the run index, the flat
meta.yaml reader."""
