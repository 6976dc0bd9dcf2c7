"""The serving image loads a model from a ``gs://`` URI, as it does on GKE, against a local GCS API
(gcp-storage-emulator on 127.0.0.1) with the environment the GCP layer renders into the endpoint's pods.

On GKE the Google client finds its credentials on the metadata server (Workload Identity); here
``STORAGE_EMULATOR_HOST`` points the same client at the emulator, which needs none. No key file exists either way.
"""

from __future__ import annotations

import orjson
import pytest
from model_factory import FEATURES, training_frame
from serving_processes import free_port, http, post_json, start_serving_image

pytestmark = pytest.mark.slow  # starts real server processes

BUCKET = "mlops-gcp-dev-artifacts-test"
MODEL_PREFIX = "1/models/m-churn/artifacts"


@pytest.fixture(scope="module")
def gcs_endpoint():
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rendered_pod_env(preview):
    """The plain env the gcp-dev stack renders for the endpoint's blue pods, minus what names in-cluster hosts."""
    deployment = preview("gcp-dev").one("kubernetes:apps/v1:Deployment", "mlops-kubernetes-endpoint-churn-blue")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.fixture(scope="module")
def uploaded_model(logistic_model, gcs_endpoint):
    """The logistic regression's files in the bucket, uploaded through MLflow's own GCS artifact repository."""
    from mlflow.store.artifact.gcs_artifact_repo import GCSArtifactRepository

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
        GCSArtifactRepository(f"gs://{BUCKET}/{MODEL_PREFIX}").log_artifacts(str(logistic_model))
    return f"gs://{BUCKET}/{MODEL_PREFIX}"


@pytest.fixture(scope="module")
def gcs_server(uploaded_model, gcs_endpoint, rendered_pod_env, tmp_path_factory):
    env = {"GOOGLE_CLOUD_PROJECT": rendered_pod_env["GOOGLE_CLOUD_PROJECT"], "STORAGE_EMULATOR_HOST": gcs_endpoint,
           "MODEL_NAME": "churn", "MODEL_VERSION": "1", "GOOGLE_APPLICATION_CREDENTIALS": ""}
    server = start_serving_image(uploaded_model, tmp_path_factory.mktemp("gcs-serving"), **env)
    try:
        server.wait_until("/ready", timeout=120)
        yield server
    finally:
        server.stop()


def test_the_layer_gives_the_pods_their_project_and_no_key_file(rendered_pod_env):
    assert rendered_pod_env["GOOGLE_CLOUD_PROJECT"] == "acme-mlops-dev"
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in rendered_pod_env


def test_the_model_files_really_live_in_the_bucket(uploaded_model, gcs_endpoint):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_endpoint})
    names = [blob.name for blob in client.list_blobs(BUCKET, prefix=MODEL_PREFIX)]
    assert f"{MODEL_PREFIX}/MLmodel" in names and f"{MODEL_PREFIX}/reference_statistics.json" in names


def test_the_server_loads_the_gs_model_and_answers_with_its_predictions(gcs_server, uploaded_model, logistic_model):
    import mlflow.pyfunc

    document = orjson.loads(http("GET", gcs_server.url("/version"))[1])
    assert document["model_uri"] == uploaded_model
    frame = training_frame(rows=5, seed=4)
    status, answer = post_json(gcs_server.url("/invocations"),
                               {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}})
    expected = mlflow.pyfunc.load_model(str(logistic_model)).predict(frame)
    assert status == 200 and answer == {"predictions": [int(value) for value in expected]}
