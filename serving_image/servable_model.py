"""A loaded MLflow model and the fastest correct way to call it.

MLflow's generic pyfunc path (parse to a DataFrame, enforce the signature, predict, serialise) is always there and
answers every input exactly as `mlflow models serve` does. When the model has a native scikit-learn flavour and a
signature of required numeric columns, numeric inputs skip all of that: the request becomes one float64 array in
the model's feature order and goes straight to the estimator's predict function (the one the pyfunc flavour is
configured to call). At warm-up the server times that predict on 1 and 32 rows to decide whether merging
concurrent requests into one call pays off (MICRO_BATCHING=auto), and whether it is quick enough to run on the
event loop.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from serving_image.model_source import ModelIdentity
from serving_image.reference_statistics import FeatureReference, load_reference_statistics
from serving_image.scoring_errors import ScoringError, bad_request, prediction_failed
from serving_image.scoring_request import FORMAT_KEYS, PARAMS_KEY, ArrayLayout, ScoringRequest

_log = logging.getLogger(__name__)

VECTORISED_SPEED_UP = 4.0
"""Batching is worth it when 32 rows cost less than 32 / 4 = 8 single-row predicts."""
ON_LOOP_SECONDS = 0.0005
"""A single-row predict faster than this runs on the event loop; slower ones get a thread."""
_NATIVE_FLAVORS = ("sklearn",)
_EXACT_JSON_DTYPES = frozenset(np.dtype(name) for name in ("float64", "int64", "int32", "bool"))


@dataclasses.dataclass(frozen=True)
class GenericPrediction:
    body: bytes
    rows: int
    frame: Any
    """The parsed input (a DataFrame, usually), for the drift monitor."""


@dataclasses.dataclass(frozen=True)
class NativePredictor:
    predict: Callable[[np.ndarray], np.ndarray]
    layout: ArrayLayout
    vectorised: bool
    single_row_seconds: float


class ServableModel:
    """A model ready to answer: identity, signature, the pyfunc model and, when it applies, its native predictor."""

    def __init__(self, identity: ModelIdentity, local_path: str):
        import mlflow.pyfunc

        self.identity = identity
        self.local_path = local_path
        self.pyfunc = mlflow.pyfunc.load_model(local_path)
        self.flavors = tuple(self.pyfunc.metadata.flavors)
        self.input_schema = self.pyfunc.metadata.get_input_schema()
        self.references: dict[str, FeatureReference] | None = load_reference_statistics(local_path)
        self.native: NativePredictor | None = self._native_predictor()
        self._warm_up()

    @property
    def flavor(self) -> str:
        return next((name for name in _NATIVE_FLAVORS if name in self.flavors), "python_function")

    def predict_generic(self, request: ScoringRequest) -> GenericPrediction:
        """MLflow's own parsing, schema enforcement and serialisation; raises `ScoringError` for the client."""
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        params = None
        try:
            if request.csv_text is not None:
                data = scoring_server.parse_csv_input(io.StringIO(request.csv_text), schema=self.input_schema)
            else:
                params = request.payload.get(PARAMS_KEY)
                data = scoring_server.infer_and_parse_data(
                    {key: value for key, value in request.payload.items() if key in FORMAT_KEYS},
                    self.input_schema)
        except MlflowException as error:
            raise bad_request(error.message) from None
        rows = _row_count(data)
        if rows == 0:
            raise bad_request("input has no rows; send at least one row")
        try:
            predictions = self.pyfunc.predict(data, params=params) if params else self.pyfunc.predict(data)
        except MlflowException as error:
            if error.get_http_status_code() < 500:  # signature enforcement rejected the input
                raise ScoringError(400, "BAD_REQUEST", error.message) from None
            raise prediction_failed(error) from error
        except Exception as error:  # the model's own failure
            raise prediction_failed(error) from error
        output = io.StringIO()
        scoring_server.predictions_to_json(predictions, output)
        return GenericPrediction(output.getvalue().encode(), rows, data)

    def _native_predictor(self) -> NativePredictor | None:
        if self.flavor not in _NATIVE_FLAVORS:
            return None
        layout = _array_layout(self.input_schema, self.pyfunc.get_raw_model())
        if layout is None:
            _log.info("native path off: the signature is not made of required numeric columns",
                      extra={"flavor": self.flavor})
            return None
        function_name = self.pyfunc.metadata.flavors["python_function"].get("predict_fn", "predict")
        predict = getattr(self.pyfunc.get_raw_model(), function_name)
        # Estimators fitted on a DataFrame warn on every array input; the array's columns are in fitting order.
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        one = np.zeros((1, len(layout.columns)))
        predict(one)
        single = _best_time(predict, one)
        many = _best_time(predict, np.repeat(one, 32, axis=0))
        vectorised = many < 32 / VECTORISED_SPEED_UP * single
        _log.info("native path on", extra={"flavor": self.flavor, "predict_fn": function_name,
                                           "single_row_ms": round(single * 1e3, 3),
                                           "rows_32_ms": round(many * 1e3, 3), "vectorised": vectorised})
        return NativePredictor(predict, layout, vectorised, single)

    def _warm_up(self) -> None:
        """Run the generic path once on the logged input example, so the first request pays no lazy set-up."""
        try:
            example = self.pyfunc.metadata.load_input_example(self.local_path)
        except Exception:  # an unreadable example only costs the warm-up
            example = None
        if example is not None:
            self.pyfunc.predict(example)


def encode_predictions(predictions: np.ndarray) -> bytes:
    """`{"predictions": [...]}` exactly as MLflow writes a numpy result, without going through Python lists."""
    if isinstance(predictions, np.ndarray) and predictions.dtype in _EXACT_JSON_DTYPES:
        return orjson.dumps({"predictions": np.ascontiguousarray(predictions)}, option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps({"predictions": predictions.tolist()})


def _array_layout(schema: Any, raw_model: Any) -> ArrayLayout | None:
    from mlflow.types import DataType

    if schema is None or schema.is_tensor_spec() or schema.has_input_names() is False:
        return None
    numeric = {DataType.double, DataType.long, DataType.integer}
    columns = schema.inputs
    if any(not column.required or column.type not in numeric for column in columns):
        return None
    names = [column.name for column in columns]
    fitted = getattr(raw_model, "feature_names_in_", None)
    order = [str(name) for name in fitted] if fitted is not None else names
    if sorted(order) != sorted(names) or len(set(names)) != len(names):
        return None
    integer = {column.name for column in columns if column.type in (DataType.long, DataType.integer)}
    return ArrayLayout(tuple(order), tuple(index for index, name in enumerate(order) if name in integer))


def _best_time(predict: Callable[[np.ndarray], Any], array: np.ndarray, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict(array)
        best = min(best, time.perf_counter() - start)
    return best


def _row_count(data: Any) -> int:
    if isinstance(data, dict):
        return max((len(value) if hasattr(value, "__len__") else 1 for value in data.values()), default=0)
    return len(data) if hasattr(data, "__len__") else 1
