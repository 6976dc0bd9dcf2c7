"""The common request shapes take the fast array path (no DataFrame), with columns in the model's order; anything
unusual is handed to MLflow's parser rather than guessed at."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from serving_image.scoring_errors import ScoringError
from serving_image.scoring_request import ArrayLayout, parse_request

LAYOUT = ArrayLayout(("a", "b", "c"), integer_positions=(2,))
EXPECTED = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize("payload", [
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [4, 5, 6]]}},
    {"dataframe_split": {"columns": ["c", "a", "b"], "data": [[3, 1, 2], [6, 4, 5]]}},
    {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"c": 6, "b": 5, "a": 4, "extra": "ignored"}]},
    {"instances": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
    {"inputs": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
    {"inputs": {"a": [1, 4], "b": [2, 5], "c": [3, 6]}},
], ids=["split", "split_reordered", "records", "instances", "inputs_records", "inputs_columns"])
def test_common_shapes_become_one_float_array_in_model_order(payload):
    request = parse_request(orjson.dumps(payload), "application/json", LAYOUT)
    assert request.array is not None and request.array.dtype == np.float64
    np.testing.assert_array_equal(request.array, EXPECTED)


@pytest.mark.parametrize("payload", [
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [["x", 2, 3]]}},       # a string: MLflow rejects it
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3.5]]}},       # non-integral in a long column
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, None]]}},      # a null: MLflow decides
    {"dataframe_records": [{"a": 1, "b": 2}]},                                      # a missing column
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}, "params": {"x": 1}},
    {"instances": [[1, 2, 3]]},                                                     # a tensor-style list
])
def test_unusual_input_is_left_to_mlflow(payload):
    request = parse_request(orjson.dumps(payload), "application/json", LAYOUT)
    assert request.array is None and request.payload == payload


def test_without_a_layout_every_request_goes_to_mlflow():
    payload = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}
    assert parse_request(orjson.dumps(payload), "application/json", None).array is None


def test_csv_is_left_to_mlflow_as_text():
    request = parse_request(b"a,b,c\n1,2,3\n", "text/csv", LAYOUT)
    assert request.array is None and request.csv_text == "a,b,c\n1,2,3\n"


def test_a_bad_body_is_rejected_before_any_model_work():
    with pytest.raises(ScoringError) as raised:
        parse_request(b'{"dataframe_split": ', "application/json", LAYOUT)
    assert raised.value.status == 400 and "not valid JSON" in raised.value.message
