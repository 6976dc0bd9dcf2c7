"""Fixtures of the serving tests: models trained once per session, and real servers started once per module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `serving_image` lives at the repository root

from model_factory import save_logistic_regression, save_sqrt_pipeline  # noqa: E402
from serving_processes import start_serving_image  # noqa: E402


@pytest.fixture(scope="session")
def logistic_model(tmp_path_factory) -> Path:
    return save_logistic_regression(tmp_path_factory.mktemp("models") / "logistic")


@pytest.fixture(scope="session")
def sqrt_pipeline_model(tmp_path_factory) -> Path:
    return save_sqrt_pipeline(tmp_path_factory.mktemp("models") / "sqrt-pipeline")


@pytest.fixture(scope="session")
def logistic_server(logistic_model, tmp_path_factory):
    """Our server on the logistic regression, two workers, as in production."""
    server = start_serving_image(str(logistic_model), tmp_path_factory.mktemp("logistic-server"), WORKERS="2",
                                 MODEL_NAME="churn", MODEL_VERSION="7")
    try:
        server.wait_until("/ready")
        yield server
    finally:
        server.stop()
