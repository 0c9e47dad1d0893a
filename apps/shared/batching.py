"""Micro-batching for endpoints whose model handles many inputs in one forward pass (similarity, CLIP).

Each request is validated and prepared on its own worker thread, so a bad request fails alone with
its own message, as it would unbatched; only the model call is shared. Requests that arrive while a
batch runs wait and go together into the next one (up to `max_size`): a lone request never waits for
company, and under load the model sees full batches.

Why not Gradio's `batch=True`: Gradio 6 sends the exception of a batched function to every request
of the batch (`Queue.process_events`), and its event `validator` runs inside the HTTP request that
joins the queue, where loading a model could outlast the client's 5 s timeout. A failing model load
or a bad input would break the other requests of the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 8  # requests per forward pass, and the events' concurrency limit


@dataclass
class _Job(Generic[Item, Result]):
    item: Item
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Queue:
    pending: list[_Job] = field(default_factory=list)
    running: bool = False


class Batcher(Generic[Item, Result]):
    """`batcher.run(model, item)` → this item's result, computed with whichever requests are waiting.

    `forward(model, items)` returns one result per item, in order. If it raises, each item of that
    batch is run again on its own, so the error reaches only the request that causes it. Batches are
    per model object: requests for different models never share a forward pass.
    """

    def __init__(self, forward: Callable[[Any, Sequence[Item]], Sequence[Result]], max_size: int = MAX_BATCH) -> None:
        self.forward = forward
        self.max_size = max_size
        self.batches = 0  # forward passes run (tests and benchmarks read these)
        self.items = 0
        self._cond = threading.Condition()
        self._queues: dict[int, _Queue] = {}

    def waiting(self) -> int:
        """How many requests wait for a batch (not counting those running now)."""
        with self._cond:
            return sum(len(queue.pending) for queue in self._queues.values())

    def run(self, model: Any, item: Item) -> Result:
        job: _Job[Item, Result] = _Job(item)
        key = id(model)  # the caller holds the model (ctx.use) until this returns, so the id stays its own
        with self._cond:
            queue = self._queues.setdefault(key, _Queue())
            queue.pending.append(job)
        while True:
            with self._cond:
                while not job.done and (queue.running or job not in queue.pending):
                    self._cond.wait()
                if job.done:
                    if not queue.running and not queue.pending:
                        self._queues.pop(key, None)
                    break
                # Nobody runs a batch for this model and ours waits: run the oldest pending jobs, ours among them.
                batch, queue.pending = queue.pending[: self.max_size], queue.pending[self.max_size :]
                queue.running = True
            try:
                self._compute(model, batch)
            except BaseException as exc:  # e.g. KeyboardInterrupt: no job of this batch may wait forever
                for unfinished in batch:
                    unfinished.error = unfinished.error or exc
                raise
            finally:
                with self._cond:
                    for finished in batch:
                        finished.done = True
                    queue.running = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _compute(self, model: Any, batch: list[_Job[Item, Result]]) -> None:
        """Fill each job's result, or its error: a failing batch is retried item by item."""
        try:
            results = list(self.forward(model, [job.item for job in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for job in batch:  # find the culprit: every item on its own
                try:
                    (job.result,) = self.forward(model, [job.item])
                except Exception as single:
                    job.error = single
            return
        with self._cond:
            self.batches += 1
            self.items += len(batch)
        for job, result in zip(batch, results, strict=True):
            job.result = result
