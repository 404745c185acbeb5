"""mlrun-cli: run MLflow-style projects fast, strictly and safely."""

__version__ = "0.1.0"
