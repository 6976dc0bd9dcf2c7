"""Every input format of MLflow's scoring protocol answers exactly as `mlflow models serve` does for the same model."""

from __future__ import annotations

import orjson
import pytest
from model_factory import FEATURES, training_frame
from serving_processes import http, start_mlflow_models_serve

pytestmark = pytest.mark.slow  # starts real server processes

FRAME = training_frame(rows=5, seed=42)
ROWS = FRAME.to_numpy().tolist()
RECORDS = FRAME.to_dict(orient="records")
REORDERED = list(reversed(FEATURES))

BODIES = {
    "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": ROWS}},
    "dataframe_split_reordered_columns": {"dataframe_split": {
        "columns": REORDERED, "data": FRAME[REORDERED].to_numpy().tolist()}},
    "dataframe_split_with_index": {"dataframe_split": {"index": list(range(5)), "columns": FEATURES, "data": ROWS}},
    "dataframe_split_integers": {"dataframe_split": {"columns": FEATURES, "data": [[1] * len(FEATURES)]}},
    "dataframe_records": {"dataframe_records": RECORDS},
    "dataframe_records_extra_column": {"dataframe_records": [{**RECORDS[0], "unused": 3.5}]},
    "instances_records": {"instances": RECORDS},
    "inputs_records": {"inputs": RECORDS},
    "inputs_columns": {"inputs": {name: FRAME[name].tolist() for name in FEATURES}},
    "params_ignored_by_sklearn": {"dataframe_split": {"columns": FEATURES, "data": ROWS}, "params": {"unused": 1}},
}


@pytest.fixture(scope="module")
def mlflow_server(logistic_model, tmp_path_factory):
    server = start_mlflow_models_serve(str(logistic_model), tmp_path_factory.mktemp("mlflow-models-serve"))
    try:
        server.wait_until("/health", timeout=120)
        yield server
    finally:
        server.stop()


def answer(server, body: bytes, content_type: str) -> tuple[int, object]:
    status, payload, _ = http("POST", server.url("/invocations"), body, content_type)
    return status, orjson.loads(payload)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_json_format_answers_like_mlflow_models_serve(name, logistic_server, mlflow_server):
    body = orjson.dumps(BODIES[name])
    ours = answer(logistic_server, body, "application/json")
    theirs = answer(mlflow_server, body, "application/json")
    assert theirs[0] == 200, theirs
    assert ours == theirs
    assert ours[1]["predictions"]


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8"])
def test_csv_answers_like_mlflow_models_serve(content_type, logistic_server, mlflow_server):
    body = FRAME.to_csv(index=False).encode()
    ours = answer(logistic_server, body, content_type)
    assert ours == answer(mlflow_server, body, content_type)
    assert ours[0] == 200 and len(ours[1]["predictions"]) == len(FRAME)


def test_predictions_are_the_models_own(logistic_server, logistic_model):
    import mlflow.sklearn

    expected = mlflow.sklearn.load_model(str(logistic_model)).predict(FRAME).tolist()
    status, payload = answer(logistic_server, orjson.dumps(BODIES["dataframe_split"]), "application/json")
    assert (status, payload) == (200, {"predictions": expected})


def test_a_missing_column_is_a_client_error_for_both_servers(logistic_server, mlflow_server):
    body = orjson.dumps({"dataframe_records": [{"f0": 1.0}]})
    ours, theirs = answer(logistic_server, body, "application/json"), answer(mlflow_server, body, "application/json")
    assert ours[0] == theirs[0] == 400
    assert "f7" in ours[1]["message"] and ours[1]["error_code"] == "BAD_REQUEST"
