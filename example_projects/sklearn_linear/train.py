"""The classic MLflow example: fit y = X·[1, 2] + 3 and log the parameter, the metric and the model."""

import sys

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error

alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
X = np.array([[1, 1], [1, 2], [2, 2], [2, 3]])
y = np.dot(X, np.array([1, 2])) + 3

with mlflow.start_run():
    model = LinearRegression().fit(X, y)
    mse = mean_squared_error(y, model.predict(X))
    mlflow.log_param("alpha", alpha)
    mlflow.log_metric("mse", mse)
    # Naming the requirements skips MLflow's slow inference (it re-imports the model's modules).
    mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn", "numpy"])
    print(f"alpha={alpha} mse={mse:.3g}")
