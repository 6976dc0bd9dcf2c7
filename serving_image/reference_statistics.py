"""Reference statistics of a model's training data: the file the server's drift scores compare live inputs with.

The file is `reference_statistics.json` at the root of the model's directory (beside `MLmodel`):

    {"format_version": 1, "row_count": 2000,
     "features": {
       "age":   {"kind": "numeric", "bin_edges": [23.0, 31.5, ...], "proportions": [0.1, 0.1, ...]},
       "color": {"kind": "categorical", "categories": ["blue", "red"], "proportions": [0.6, 0.3, 0.1]}}}

A numeric feature has `len(bin_edges) + 1` bins cut at the training quantiles (so each holds about the same
share), with the share of training rows in each. A categorical feature has its most frequent categories and a
last proportion for all others. `log_reference_statistics` computes the file from the training frame and logs
it into an MLflow model's artifacts; `save_reference_statistics` writes it into a saved model directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

import numpy as np

FILE_NAME = "reference_statistics.json"
FORMAT_VERSION = 1
NUMERIC_BINS = 10
MAX_CATEGORIES = 20


@dataclasses.dataclass(frozen=True)
class NumericReference:
    bin_edges: np.ndarray
    proportions: np.ndarray


@dataclasses.dataclass(frozen=True)
class CategoricalReference:
    categories: tuple[str, ...]
    proportions: np.ndarray
    """One share per category, then the share of all other values."""


FeatureReference = NumericReference | CategoricalReference


def compute_reference_statistics(frame: Any, bins: int = NUMERIC_BINS) -> dict[str, Any]:
    """The JSON document for a training `pandas.DataFrame`: numeric columns binned, the rest as categories."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValueError("frame: reference statistics need a non-empty pandas DataFrame of the training inputs")
    features: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            features[str(name)] = _categorical(column.dropna().astype(str))
        else:
            features[str(name)] = _numeric(column.to_numpy(dtype=np.float64), bins)
    return {"format_version": FORMAT_VERSION, "row_count": int(len(frame)), "features": features}


def _numeric(values: np.ndarray, bins: int) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if values.size else np.array([])
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    return {"kind": "numeric", "bin_edges": edges.tolist(), "proportions": (counts / max(values.size, 1)).tolist()}


def _categorical(values: Any) -> dict[str, Any]:
    shares = values.value_counts(normalize=True)
    top = shares.iloc[:MAX_CATEGORIES]
    return {"kind": "categorical", "categories": [str(c) for c in top.index],
            "proportions": [float(p) for p in top.to_numpy()] + [float(max(0.0, 1.0 - top.sum()))]}


def save_reference_statistics(frame: Any, model_dir: str) -> str:
    """Write the statistics of `frame` into a saved MLflow model directory; returns the file's path."""
    path = os.path.join(model_dir, FILE_NAME)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(compute_reference_statistics(frame), handle)
    return path


def log_reference_statistics(frame: Any, model_id: str) -> None:
    """Log the statistics of `frame` into the artifacts of a logged MLflow model (`ModelInfo.model_id`)."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, FILE_NAME)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(compute_reference_statistics(frame), handle)
        MlflowClient().log_model_artifact(model_id, path)


def load_reference_statistics(model_dir: str) -> dict[str, FeatureReference] | None:
    """The per-feature references of a model directory, or None when it has no statistics file."""
    path = os.path.join(model_dir, FILE_NAME)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {document.get('format_version')!r} is not supported; "
                         f"use {FORMAT_VERSION}")
    references: dict[str, FeatureReference] = {}
    for name, feature in document["features"].items():
        proportions = np.asarray(feature["proportions"], dtype=np.float64)
        if feature["kind"] == "numeric":
            references[name] = NumericReference(np.asarray(feature["bin_edges"], dtype=np.float64), proportions)
        elif feature["kind"] == "categorical":
            references[name] = CategoricalReference(tuple(feature["categories"]), proportions)
        else:
            raise ValueError(f"{path}: features.{name}.kind {feature['kind']!r} is not allowed; "
                             "use numeric or categorical")
    return references
