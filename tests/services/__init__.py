"""The real parts the tests start and share: MLflow in a side venv and its server, a git daemon,
test images, side venvs."""
