"""Tests of the Slurm backend (mlrun_cli/backends/slurm.py, slurm_states.py), against the real one-
node cluster of .ci/slurm-up."""
