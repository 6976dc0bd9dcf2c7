"""Micro-batching merges concurrent requests into one predict call, answers each with its own rows, and
isolates a request whose rows make the model raise."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from serving_image.micro_batching import ArrayPredictor


class RecordingModel:
    """Doubles the first column; raises on a negative value; remembers every batch it was called with."""

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, array: np.ndarray) -> np.ndarray:
        self.calls.append(array.shape[0])
        if (array < 0).any():
            raise ValueError("negative input")
        return array[:, 0] * 2


async def predict_concurrently(predictor: ArrayPredictor, arrays: list[np.ndarray]) -> list:
    results = await asyncio.gather(*(predictor.predict(array) for array in arrays), return_exceptions=True)
    await predictor.close()
    return results


@pytest.mark.parametrize("on_loop", [True, False])
def test_concurrent_requests_share_one_predict_and_get_their_own_rows(on_loop):
    model = RecordingModel()
    predictor = ArrayPredictor(model.predict, batching=True, on_loop=on_loop, max_rows=512, max_wait_seconds=0)
    arrays = [np.full((rows, 3), float(index)) for index, rows in enumerate([1, 3, 2, 5], start=1)]
    results = asyncio.run(predict_concurrently(predictor, arrays))
    assert [result.tolist() for result in results] == [[2.0], [4.0] * 3, [6.0] * 2, [8.0] * 5]
    assert model.calls == [11]


def test_batches_respect_the_row_cap():
    model = RecordingModel()
    predictor = ArrayPredictor(model.predict, batching=True, on_loop=True, max_rows=4, max_wait_seconds=0)
    results = asyncio.run(predict_concurrently(predictor, [np.ones((2, 1))] * 5))
    assert all(result.tolist() == [2.0, 2.0] for result in results)
    assert model.calls == [4, 4, 2]


def test_a_failing_request_does_not_fail_the_requests_merged_with_it():
    model = RecordingModel()
    predictor = ArrayPredictor(model.predict, batching=True, on_loop=True, max_rows=512, max_wait_seconds=0)
    good, bad = np.ones((1, 2)), -np.ones((1, 2))
    results = asyncio.run(predict_concurrently(predictor, [good, bad, good]))
    assert results[0].tolist() == [2.0] and results[2].tolist() == [2.0]
    assert isinstance(results[1], ValueError)


def test_without_batching_each_request_is_its_own_call():
    model = RecordingModel()
    predictor = ArrayPredictor(model.predict, batching=False, on_loop=False, max_rows=512, max_wait_seconds=0)
    asyncio.run(predict_concurrently(predictor, [np.ones((1, 1))] * 3))
    assert model.calls == [1, 1, 1]
