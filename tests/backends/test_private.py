"""Which variables a backend keeps out of job scripts and Job specs (`is_private`): by name, or
by a credential in the value. Both ways: a miss leaks a secret into a logged artifact, a false
alarm only moves a harmless value into the private channel."""

from __future__ import annotations

import pytest

from mlrun_cli.backends.base import is_private


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PASSWORD", "x"),
        ("MYSQL_PWD", "x"),
        ("LDAP_PASSWD", "x"),
        ("HF_TOKEN", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("MLFLOW_TRACKING_AUTH", "x"),
        ("AZURE_STORAGE_CONNECTION_STRING", "x"),
        ("SENTRY_DSN", "x"),
        ("MLFLOW_TRACKING_URI", "https://alice:pw@mlflow.example:5000"),
        ("MLFLOW_TRACKING_URI", "https://TOKEN@mlflow.example"),
        ("BACKEND", "postgresql://db/mlflow?user=a&password=pw"),
        ("STORE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=="),
        ("DATA_URL", "https://acct.blob.core.windows.net/c/f?sv=2020&sig=abc"),
    ],
)
def test_a_secret_is_private(name: str, value: str) -> None:
    assert is_private(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLFLOW_TRACKING_URI", "http://mlflow.team.svc:5000"),
        ("MLFLOW_RUN_ID", "0123abcd"),
        ("GIT_AUTHOR_NAME", "Alice"),
        ("PWD", "/home/alice"),
        ("DATA_URL", "https://example.com/data.csv?version=2"),
        ("MONKEY", "banana"),
    ],
)
def test_an_ordinary_variable_is_not(name: str, value: str) -> None:
    assert not is_private(name, value)
