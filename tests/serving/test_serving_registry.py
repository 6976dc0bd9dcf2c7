"""`models:/name@alias` from a real `mlflow server` whose artifacts live in an S3 bucket (moto, on 127.0.0.1)."""

from __future__ import annotations

import os
import sys

import boto3
import orjson
import pytest
from model_factory import FEATURES, PIP_REQUIREMENTS, labels, training_frame
from serving_processes import ServerProcess, free_port, http, post_json, start_serving_image

from mlops_platform.kubernetes.mlflow_server import JOB_EXECUTION

pytestmark = pytest.mark.slow  # starts real server processes

BUCKET = "mlflow-artifacts"
MODEL_NAME = "churn-classifier"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, **_aws_client_args()).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        moto.stop()


def _aws_client_args():
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def tracking_server(s3_endpoint, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    # The job runner off, as on the platform's replicas: it only adds huey consumer processes to wait for.
    env = {**os.environ, **AWS_ENV, **JOB_EXECUTION, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint}
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
               "--artifacts-destination", f"s3://{BUCKET}/mlartifacts", "--workers", "1"]
    server = ServerProcess(command, env, port, tmp / "mlflow-server.log")
    try:
        server.wait_until("/health", timeout=120)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def registered_model(tracking_server):
    """The logistic regression logged through the tracking server, registered, aliased `champion`, with
    reference statistics logged by our helper."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from serving_image.reference_statistics import log_reference_statistics

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tracking_server.base_url)
        frame = training_frame()
        model = LogisticRegression(max_iter=500).fit(frame, labels(frame))
        mlflow.set_experiment("registry-test")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL_NAME,
                                            signature=infer_signature(frame, model.predict(frame)),
                                            pip_requirements=PIP_REQUIREMENTS)
        log_reference_statistics(frame, info.model_id)
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(MODEL_NAME, "champion", info.registered_model_version)
    return model, str(info.registered_model_version)


@pytest.fixture(scope="module")
def registry_server(tracking_server, registered_model, s3_endpoint, tmp_path_factory):
    server = start_serving_image(f"models:/{MODEL_NAME}@champion", tmp_path_factory.mktemp("registry-serving"),
                                 MLFLOW_TRACKING_URI=tracking_server.base_url, MLFLOW_S3_ENDPOINT_URL=s3_endpoint,
                                 **AWS_ENV)
    try:
        server.wait_until("/ready", timeout=120)
        yield server
    finally:
        server.stop()


def test_the_model_files_really_live_in_the_bucket(registered_model, s3_endpoint):
    objects = boto3.client("s3", endpoint_url=s3_endpoint, **_aws_client_args()).list_objects_v2(Bucket=BUCKET)
    keys = [item["Key"] for item in objects.get("Contents", [])]
    assert any(key.endswith("/MLmodel") for key in keys)
    assert any(key.endswith("/reference_statistics.json") for key in keys)


def test_an_alias_resolves_to_its_pinned_version(registry_server, registered_model):
    _, version = registered_model
    document = orjson.loads(http("GET", registry_server.url("/version"))[1])
    assert document["model_name"] == MODEL_NAME and document["model_version"] == version
    assert document["model_uri"] == f"models:/{MODEL_NAME}@champion"
    assert document["resolved_model_uri"] == f"models:/{MODEL_NAME}/{version}"
    assert document["drift_features"] == len(FEATURES)


def test_the_registered_model_answers_with_its_own_predictions(registry_server, registered_model):
    model, version = registered_model
    frame = training_frame(rows=10, seed=3)
    status, answer = post_json(registry_server.url("/invocations"),
                               {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}})
    assert status == 200 and answer == {"predictions": model.predict(frame).tolist()}
    metrics = http("GET", registry_server.url("/metrics"))[1].decode()
    assert f'ml_model_loaded{{model_name="{MODEL_NAME}",model_version="{version}"}} 1.0' in metrics
