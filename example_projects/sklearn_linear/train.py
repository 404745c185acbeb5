"""The quick-start example: an ElasticNet fitted on scikit-learn's diabetes data (shipped with
scikit-learn: no download). `alpha`, the regularisation strength, changes the fit, so a sweep of it
(`-S alpha='logspace(-4,0,5)' --objective mse`) has a best point; `mse` is measured on held-out rows."""

import sys

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

# Logged as given: mlrun logs the same text, and MLflow refuses a param logged again with another
# value ("1" by mlrun, then "1.0" by str(float)).
alpha_text = sys.argv[1] if len(sys.argv) > 1 else "0.5"
alpha = float(alpha_text)
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

with mlflow.start_run():
    model = ElasticNet(alpha=alpha, l1_ratio=0.5, random_state=0).fit(X_train, y_train)
    mse = mean_squared_error(y_test, model.predict(X_test))
    mlflow.log_param("alpha", alpha_text)
    mlflow.log_metric("mse", mse)
    # Naming the requirements skips MLflow's slow inference (it re-imports the model's modules).
    mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn", "numpy"])
    print(f"alpha={alpha_text} mse={mse:.4g}")
