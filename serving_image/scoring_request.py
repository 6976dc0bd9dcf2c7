"""Turning a request body into model input: the fast array path, and MLflow's own parser for everything else.

The fast path takes the common shapes of MLflow's scoring protocol (`dataframe_split` with columns,
`dataframe_records`, `instances` as records, `inputs` as records or as a dict of columns) with numeric values and
builds one float64 array in the model's feature order, with no DataFrame on the way. Anything it is not sure
about (other shapes, non-numeric values, missing columns, CSV) goes to MLflow's parser and schema enforcement, so
behaviour and error messages there are exactly those of `mlflow models serve`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import orjson

from serving_image.scoring_errors import bad_request, unsupported_media_type

FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS_KEY = "params"
JSON_CONTENT_TYPE = "application/json"
CSV_CONTENT_TYPE = "text/csv"
CONTENT_TYPES = (JSON_CONTENT_TYPE, CSV_CONTENT_TYPE)


@dataclasses.dataclass(frozen=True)
class ArrayLayout:
    """The model's numeric features in the order its native predict expects them."""

    columns: tuple[str, ...]
    integer_positions: tuple[int, ...] = ()
    """Columns whose signature type is an integer: a non-integral value there is left to MLflow to reject."""


@dataclasses.dataclass(frozen=True)
class ScoringRequest:
    """A parsed request: `array` when the fast path took it, else the JSON payload or CSV text for MLflow."""

    array: np.ndarray | None = None
    payload: dict[str, Any] | None = None
    csv_text: str | None = None


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type header; 415 unless JSON or CSV in UTF-8."""
    if not content_type:
        raise unsupported_media_type(f"Content-Type header is missing; use one of {', '.join(CONTENT_TYPES)}")
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    media_type = media_type.lower()
    if media_type not in CONTENT_TYPES:
        raise unsupported_media_type(
            f"Content-Type {content_type!r} is not supported; use one of {', '.join(CONTENT_TYPES)}")
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            raise unsupported_media_type(
                f"Content-Type parameter {parameter!r} is not supported; only charset=utf-8 is")
    return media_type


def parse_request(body: bytes, media_type: str, layout: ArrayLayout | None) -> ScoringRequest:
    """Parse a body; a `layout` (the model's numeric features, in order) enables the fast array path."""
    if media_type == CSV_CONTENT_TYPE:
        try:
            return ScoringRequest(csv_text=body.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise bad_request(f"CSV body is not valid UTF-8: {error}") from None
    if not body.strip():
        raise bad_request("request body is empty; send a JSON object with one of the keys " + ", ".join(FORMAT_KEYS))
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise bad_request(f"request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise bad_request(
            f"request body is a JSON {type(payload).__name__}; send a JSON object with one of the keys "
            + ", ".join(FORMAT_KEYS))
    formats = [key for key in payload if key in FORMAT_KEYS]
    if len(formats) != 1:
        raise bad_request(
            f"request has input keys {sorted(payload)}; use exactly one of {', '.join(FORMAT_KEYS)}"
            + (f" (and optionally {PARAMS_KEY})" if PARAMS_KEY not in formats else ""))
    if layout is not None and payload.get(PARAMS_KEY) is None:
        array = _fast_array(formats[0], payload[formats[0]], layout.columns)
        if array is not None and _integral(array, layout.integer_positions):
            if array.shape[0] == 0:
                raise bad_request(f"{formats[0]} has no rows; send at least one row")
            return ScoringRequest(array=array)
    return ScoringRequest(payload=payload)


def _integral(array: np.ndarray, positions: tuple[int, ...]) -> bool:
    if not positions:
        return True
    values = array[:, positions]
    return bool(np.all(values == np.round(values)))


def _fast_array(key: str, value: Any, columns: tuple[str, ...]) -> np.ndarray | None:
    """A float64 (rows, features) array, or None when MLflow's parser should decide."""
    try:
        if key == "dataframe_split":
            return _from_split(value, columns)
        if isinstance(value, list):  # dataframe_records, and instances/inputs given as records
            return _from_records(value, columns)
        if key == "inputs" and isinstance(value, dict):
            return _from_column_dict(value, columns)
    except (KeyError, TypeError, ValueError):  # an unusual shape: MLflow's parser decides
        return None
    return None


def _from_split(value: Any, columns: tuple[str, ...]) -> np.ndarray | None:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list) or "data" not in value:
        return None
    data = value["data"]
    if not isinstance(data, list):
        return None
    given = value["columns"]
    if len(data) == 0:
        return np.empty((0, len(columns)))
    array = _numeric(data)
    if array is None or array.ndim != 2 or array.shape[1] != len(given):
        _reject_ragged_rows(data, len(given))
        return None
    if tuple(given) == columns:
        return array
    position = {name: index for index, name in enumerate(given)}
    if len(position) != len(given):
        return None
    return array[:, [position[name] for name in columns]]


def _reject_ragged_rows(data: list[Any], width: int) -> None:
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            size = f"{len(row)} values" if isinstance(row, list) else f"a JSON {type(row).__name__}"
            raise bad_request(f"dataframe_split.data[{index}] has {size}; use a list of {width} values, "
                              "one per column")


def _from_records(records: list[Any], columns: tuple[str, ...]) -> np.ndarray | None:
    if len(records) == 0:
        return np.empty((0, len(columns)))
    if not isinstance(records[0], dict):
        return None
    array = _numeric([[record[name] for name in columns] for record in records])
    return array if array is not None and array.ndim == 2 else None


def _from_column_dict(value: dict[str, Any], columns: tuple[str, ...]) -> np.ndarray | None:
    array = _numeric([value[name] for name in columns])
    return array.T if array is not None and array.ndim == 2 else None


def _numeric(rows: list[Any]) -> np.ndarray | None:
    """Rows as float64 when every value is a JSON number (bools and strings are left to MLflow)."""
    try:
        array = np.asarray(rows)
    except ValueError:  # ragged rows
        return None
    if array.dtype.kind not in "iuf":
        return None
    return array.astype(np.float64, copy=False)
