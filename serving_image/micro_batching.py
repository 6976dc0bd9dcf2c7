"""Running native predicts from the event loop, merging concurrent requests into one call when that pays.

Batching is adaptive and adds no wait on an idle server: a batch is whatever arrived while the previous predict
ran (plus at most MICRO_BATCH_MAX_WAIT_MS, 0 by default), capped at MICRO_BATCH_MAX_ROWS. Under load the batches
grow by themselves, and a vectorised model (a linear model, a tree ensemble) answers 16 merged rows in about the
time of one. A predict that is quick runs on the event loop itself, since a thread hop would cost more than the
predict; a slow one runs on a dedicated thread so the loop keeps reading requests (which then queue into the
next batch) and answering probes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass
class _Pending:
    array: np.ndarray
    future: asyncio.Future


class ArrayPredictor:
    """Predicts float64 row arrays with a native predict function, batched or one call per request."""

    def __init__(self, predict: Predict, *, batching: bool, on_loop: bool, max_rows: int, max_wait_seconds: float):
        self._predict = predict
        self.batching = batching
        self.on_loop = on_loop
        self._max_rows = max_rows
        self._max_wait = max_wait_seconds
        self._executor = None if on_loop else ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._pending: deque[_Pending] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def predict(self, array: np.ndarray) -> np.ndarray:
        """Predictions for `array`'s rows, in order; raises whatever the model raised."""
        if not self.batching:
            return await self._run(array)
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._arrived = asyncio.Event()
            self._task = loop.create_task(self._batch_forever(), name="micro-batcher")
        future = loop.create_future()
        self._pending.append(_Pending(array, future))
        self._arrived.set()
        return await future

    async def close(self) -> None:
        """Stop the batcher (call it after in-flight requests are answered) and the predict thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _run(self, array: np.ndarray) -> np.ndarray:
        if self._executor is None:
            return self._predict(array)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._predict, array)

    async def _batch_forever(self) -> None:
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            if self._max_wait > 0 and sum(item.array.shape[0] for item in self._pending) < self._max_rows:
                await asyncio.sleep(self._max_wait)
            await self._answer(self._take_batch())

    def _take_batch(self) -> list[_Pending]:
        batch = [self._pending.popleft()]
        rows = batch[0].array.shape[0]
        while self._pending and rows + self._pending[0].array.shape[0] <= self._max_rows:
            item = self._pending.popleft()
            batch.append(item)
            rows += item.array.shape[0]
        return batch

    async def _answer(self, batch: list[_Pending]) -> None:
        arrays = [item.array for item in batch]
        try:
            predictions = await self._run(arrays[0] if len(arrays) == 1 else np.concatenate(arrays))
        except Exception as error:
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(error)
                return
            # One request's bad rows must not fail the requests merged with it: answer each on its own.
            for item in batch:
                await self._answer([item])
            return
        if len(predictions) != sum(array.shape[0] for array in arrays):
            error = ValueError(f"the model returned {len(predictions)} predictions for "
                               f"{sum(array.shape[0] for array in arrays)} rows")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        start = 0
        for item in batch:
            end = start + item.array.shape[0]
            if not item.future.done():  # a client that went away leaves a cancelled future
                item.future.set_result(predictions[start:end])
            start = end
