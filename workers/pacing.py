"""Batches formed when a process can take them, not on a timer alone: ``PacedBatches``.

celery-batches collects a task's messages in the worker's parent process and hands them to
the pool every ``flush_interval`` or ``flush_every`` messages, busy pool or not. Under load
that makes many small batches (a mean of 1.5 photos in a saturated bench run with
``BATCH_SIZE`` 8), which then wait in the pool's own queue, each paying the per-batch costs
(claim transaction, Celery hand-over, logs) for one or two photos.

``PacedBatches`` hands a batch over only while fewer batches are in flight than the pool has
processes; otherwise the messages stay in the buffer, and the moment a batch returns the
next one (up to ``flush_every`` requests, oldest first) goes. An idle worker behaves as
before (a lone photo waits ``flush_interval`` at most); a busy one takes full batches.
A batch whose process died (or never reported back) counts as returned after
``forget_after_s``, so a lost callback cannot stall the queue.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Collection
from typing import Any

from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task


class PacedBatches(Batches):
    abstract = True
    forget_after_s: float = 3600.0  # set to the task's time limit by ``create_worker_app``

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._in_flight: dict[int, float] = {}  # batch number -> when it was handed over
        self._numbers = itertools.count(1)
        self._held: deque[Any] = deque()  # ready requests past the batches a free process can take

    def _slots(self) -> int:
        """How many batches the pool can run at once (its processes, or its thread limit)."""
        pool = getattr(self, "_pool", None)
        try:
            n = pool.num_processes if pool is not None else 1
        except (AttributeError, TypeError, NotImplementedError):
            n = None
        return max(1, int(n or getattr(pool, "limit", None) or 1))

    def free_slots(self) -> int:
        now = time.monotonic()
        with self._lock:
            for number, since in list(self._in_flight.items()):
                if now - since > self.forget_after_s:  # its process died without a word
                    del self._in_flight[number]
            return self._slots() - len(self._in_flight)

    def _do_flush(self) -> None:
        if self.free_slots() <= 0:
            return  # every process busy: keep collecting; the next return hands over the next batch
        if self._held and self._buffer.empty() and self._pending.empty():
            self.flush([])  # only held requests are left (the base class would stop its timer)
            return
        super()._do_flush()

    def flush(self, requests: Collection[Any]) -> Any:
        """Hand over as many batches of at most ``flush_every`` requests as processes are free;
        hold the rest, oldest first, for the next free process."""
        waiting = [*self._held, *requests]
        self._held.clear()
        size = max(1, int(self.flush_every))
        result = None
        for _ in range(max(1, self.free_slots())):
            if not waiting:
                break
            batch, waiting = waiting[:size], waiting[size:]
            result = self._hand_over(batch)
        self._held.extend(waiting)
        return result

    def _hand_over(self, requests: list[Any]) -> Any:
        """As ``Batches.flush``, with the batch counted in flight until it returns."""
        number = next(self._numbers)
        with self._lock:
            self._in_flight[number] = time.monotonic()
        acks_early = [r for r in requests if not r.task.acks_late]
        acks_late = [r for r in requests if r.task.acks_late]

        def on_accepted(pid: int, time_accepted: float) -> None:
            for req in acks_early:
                req.acknowledge()

        def finished() -> None:
            with self._lock:
                self._in_flight.pop(number, None)
            self._do_flush()  # the next batch goes now, not at the next timer tick

        def on_return(result: Any) -> None:
            for req in acks_late:
                req.acknowledge()
            finished()

        def on_error(*_: Any) -> None:  # the process was lost: the messages stay unacknowledged
            finished()

        return self._pool.apply_async(
            apply_batches_task,
            (self, ([SimpleRequest.from_request(r) for r in requests],), 0, None),
            accept_callback=on_accepted,
            callback=on_return,
            error_callback=on_error,
        )
