"""Online drift: a bounded window of recent inputs and a per-feature population stability index against training.

Recording a request costs one array copy into a ring buffer; the scores are computed off the request path, every
DRIFT_INTERVAL_SECONDS, over the last DRIFT_WINDOW_ROWS rows this worker saw. Numeric features are binned at the
training quantiles and categorical ones by category (plus one bin for everything else); the score is the
population stability index, sum((p - q) * ln(p / q)) over the bins, with both shares floored at 1e-4. By the usual
reading, below 0.1 is stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving_image.reference_statistics import CategoricalReference, FeatureReference, NumericReference

_FLOOR = 1e-4
MIN_ROWS_FOR_SCORE = 100


def population_stability_index(observed_counts: np.ndarray, expected_shares: np.ndarray) -> float:
    """PSI of observed bin counts against the expected (reference) shares of the same bins."""
    total = observed_counts.sum()
    observed = np.clip(observed_counts / total, _FLOOR, None)
    expected = np.clip(expected_shares, _FLOOR, None)
    return float(np.sum((observed - expected) * np.log(observed / expected)))


class DriftMonitor:
    """Keeps the last `window_rows` inputs of the features that have a reference, and scores their drift."""

    def __init__(self, references: dict[str, FeatureReference], window_rows: int,
                 array_columns: tuple[str, ...] | None = None):
        self._numeric = [(name, ref) for name, ref in references.items() if isinstance(ref, NumericReference)]
        self._categorical = [(name, ref) for name, ref in references.items()
                             if isinstance(ref, CategoricalReference)]
        self._window = window_rows
        self._numbers = np.full((window_rows, len(self._numeric)), np.nan)
        self._categories = np.full((window_rows, len(self._categorical)), None, dtype=object)
        self._next = 0
        self._rows = 0
        self._minimum_rows = min(MIN_ROWS_FOR_SCORE, window_rows)
        position = {name: index for index, name in enumerate(array_columns or ())}
        self._array_positions = [position.get(name) for name, _ in self._numeric]

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._numeric) + tuple(name for name, _ in self._categorical)

    def record_array(self, array: np.ndarray) -> None:
        """Record rows of a float array whose columns are `array_columns` (the fast path's layout)."""
        numbers = np.full((array.shape[0], len(self._numeric)), np.nan)
        for target, source in enumerate(self._array_positions):
            if source is not None:
                numbers[:, target] = array[:, source]
        self._append(numbers, None)

    def record_frame(self, frame: Any) -> None:
        """Record rows of a pandas DataFrame (the MLflow path); absent or unparsable values count as missing."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame) or frame.empty:
            return
        numbers = np.full((len(frame), len(self._numeric)), np.nan)
        for index, (name, _) in enumerate(self._numeric):
            if name in frame.columns:
                numbers[:, index] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        categories = np.full((len(frame), len(self._categorical)), None, dtype=object)
        for index, (name, _) in enumerate(self._categorical):
            if name in frame.columns:
                categories[:, index] = frame[name].astype(str).to_numpy()
        self._append(numbers, categories)

    def _append(self, numbers: np.ndarray, categories: np.ndarray | None) -> None:
        count = numbers.shape[0]
        if count >= self._window:
            numbers = numbers[-self._window:]
            categories = None if categories is None else categories[-self._window:]
            count = self._window
        slots = (self._next + np.arange(count)) % self._window
        self._numbers[slots] = numbers
        self._categories[slots] = None if categories is None else categories
        self._next = (self._next + count) % self._window
        self._rows = min(self._rows + count, self._window)

    def scores(self) -> dict[str, float]:
        """PSI per feature over the window; a feature with fewer than 100 recorded values has no score yet."""
        result: dict[str, float] = {}
        filled = slice(0, self._rows)
        for index, (name, reference) in enumerate(self._numeric):
            values = self._numbers[filled, index]
            values = values[~np.isnan(values)]
            if values.size >= self._minimum_rows:
                counts = np.bincount(np.searchsorted(reference.bin_edges, values, side="right"),
                                     minlength=reference.proportions.size)
                result[name] = population_stability_index(counts, reference.proportions)
        for index, (name, reference) in enumerate(self._categorical):
            values = [value for value in self._categories[filled, index] if value is not None]
            if len(values) >= self._minimum_rows:
                other = len(reference.categories)
                lookup = {category: position for position, category in enumerate(reference.categories)}
                bins = np.fromiter((lookup.get(value, other) for value in values), dtype=np.int64, count=len(values))
                counts = np.bincount(bins, minlength=other + 1)
                result[name] = population_stability_index(counts, reference.proportions)
        return result
