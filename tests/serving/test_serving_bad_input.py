"""Every bad request gets a 4xx with a JSON error naming what was wrong; a failing model gets a 500; the process
lives on."""

from __future__ import annotations

import orjson
import pytest
from model_factory import FEATURES
from serving_processes import http, post_json, start_serving_image

from serving_image.http_app import DISCARD_BYTES

pytestmark = pytest.mark.slow  # starts real server processes

GOOD_ROW = [0.5] * len(FEATURES)

BAD_JSON_BODIES = [
    ("malformed_json", b'{"dataframe_split": {"columns": [', 400, "not valid JSON"),
    ("empty_body", b"", 400, "empty"),
    ("json_list", b"[1, 2, 3]", 400, "JSON list"),
    ("unknown_format_key", b'{"dataframe": {"columns": ["f0"], "data": [[1]]}}', 400, "dataframe_split"),
    ("two_format_keys", orjson.dumps({"instances": [], "inputs": []}), 400, "exactly one of"),
    ("missing_column", orjson.dumps({"dataframe_records": [{"f0": 1.0}]}), 400, "f7"),
    ("string_in_numeric_column", orjson.dumps(
        {"dataframe_split": {"columns": FEATURES, "data": [["high"] + GOOD_ROW[1:]]}}), 400, "f0"),
    ("empty_rows", orjson.dumps({"dataframe_split": {"columns": FEATURES, "data": []}}), 400, "no rows"),
    ("empty_records", orjson.dumps({"dataframe_records": []}), 400, "no rows"),
    ("ragged_rows", orjson.dumps({"dataframe_split": {"columns": FEATURES, "data": [GOOD_ROW, [1.0]]}}), 400,
     "data[1] has 1 values"),
]


@pytest.mark.parametrize(("name", "body", "status", "says"), BAD_JSON_BODIES, ids=[case[0] for case in BAD_JSON_BODIES])
def test_bad_json_input_is_a_client_error_that_says_why(name, body, status, says, logistic_server):
    answer_status, payload, headers = http("POST", logistic_server.url("/invocations"), body)
    assert answer_status == status
    assert headers["content-type"] == "application/json"
    error = orjson.loads(payload)
    assert error["error_code"] == "BAD_REQUEST"
    assert says in error["message"]


@pytest.mark.parametrize(("content_type", "says"), [
    (None, "missing"), ("text/plain", "application/json, text/csv"), ("application/xml", "application/json, text/csv"),
    ("application/json; charset=latin-1", "only charset=utf-8")])
def test_wrong_content_type_is_415(content_type, says, logistic_server):
    body = orjson.dumps({"dataframe_split": {"columns": FEATURES, "data": [GOOD_ROW]}})
    status, payload, _ = http("POST", logistic_server.url("/invocations"), body, content_type=content_type)
    assert status == 415
    error = orjson.loads(payload)
    assert error["error_code"] == "UNSUPPORTED_MEDIA_TYPE" and says in error["message"]


def test_oversized_body_is_413_naming_the_limit(tmp_path, logistic_model):
    server = start_serving_image(str(logistic_model), tmp_path, MAX_REQUEST_BYTES="4096")
    try:
        server.wait_until("/ready")
        rows = [GOOD_ROW] * 200  # about 8 kB
        status, error = post_json(server.url("/invocations"), {"dataframe_split": {"columns": FEATURES, "data": rows}})
        assert status == 413
        assert error["error_code"] == "REQUEST_TOO_LARGE" and "MAX_REQUEST_BYTES=4096" in error["message"]
        small = {"dataframe_split": {"columns": FEATURES, "data": [GOOD_ROW]}}
        assert post_json(server.url("/invocations"), small)[0] == 200
    finally:
        server.stop()


def test_an_ordinary_client_gets_the_413_and_its_json_not_a_connection_reset(tmp_path, logistic_model):
    """urllib writes the whole body before it reads the answer: a server that answers early and closes with the
    body unread makes the kernel reset the connection, and the client never sees the 413."""
    import urllib.error
    import urllib.request

    server = start_serving_image(str(logistic_model), tmp_path, MAX_REQUEST_BYTES="65536")
    try:
        server.wait_until("/ready")
        # 20 MB: far more than the socket buffers hold, so the client is still writing when the server answers
        body = orjson.dumps({"dataframe_split": {"columns": FEATURES, "data": [GOOD_ROW] * 550_000}})
        assert 16_000_000 < len(body) < 65536 + DISCARD_BYTES
        for chunked in (False, True):  # with a Content-Length, and streamed without one
            data = iter([body[i:i + 2**20] for i in range(0, len(body), 2**20)]) if chunked else body
            request = urllib.request.Request(server.url("/invocations"), data=data, method="POST",
                                             headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=30)
            error = orjson.loads(answer.value.read())
            assert answer.value.code == 413 and error["error_code"] == "REQUEST_TOO_LARGE", chunked
            assert answer.value.headers["connection"] == "close"
    finally:
        server.stop()


@pytest.mark.parametrize(("method", "path", "status", "says"), [
    ("GET", "/invocations", 405, "use POST"), ("POST", "/health", 405, "use GET"),
    ("GET", "/predict", 404, "/invocations")])
def test_unknown_routes_and_methods_say_what_exists(method, path, status, says, logistic_server):
    answer_status, payload, _ = http(method, logistic_server.url(path), b"{}" if method == "POST" else None)
    assert answer_status == status
    assert says in orjson.loads(payload)["message"]


@pytest.fixture(scope="module")
def sqrt_server(sqrt_pipeline_model, tmp_path_factory):
    server = start_serving_image(str(sqrt_pipeline_model), tmp_path_factory.mktemp("sqrt-server"),
                                 MODEL_NAME="sqrt", MODEL_VERSION="1")
    try:
        server.wait_until("/ready")
        yield server
    finally:
        server.stop()


def test_a_model_exception_is_a_500_with_the_error_and_the_server_keeps_serving(sqrt_server):
    assert orjson.loads(http("GET", sqrt_server.url("/version"))[1])["native_predict"] is True
    status, error = post_json(sqrt_server.url("/invocations"),
                              {"dataframe_split": {"columns": FEATURES, "data": [[-4.0] * len(FEATURES)]}})
    assert status == 500
    assert error["error_code"] == "INTERNAL_ERROR" and "ValueError" in error["message"] and "NaN" in error["message"]
    assert http("GET", sqrt_server.url("/health"))[0] == 200
    assert post_json(sqrt_server.url("/invocations"),
                     {"dataframe_split": {"columns": FEATURES, "data": [[4.0] * len(FEATURES)]}})[0] == 200


def test_a_model_exception_on_the_mlflow_path_is_a_500_too(sqrt_server):
    row = {name: -1.0 for name in FEATURES}
    status, error = post_json(sqrt_server.url("/invocations"), {"dataframe_records": [{**row, "f0": None}]})
    assert status == 500 and error["error_code"] == "INTERNAL_ERROR"


def test_nothing_above_stopped_the_server(logistic_server):
    assert http("GET", logistic_server.url("/health"))[0] == 200
    assert http("GET", logistic_server.url("/ready"))[0] == 200
    assert logistic_server.process.poll() is None
