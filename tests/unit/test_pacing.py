"""PacedBatches: a batch goes to the pool only while a process is free, full and oldest first.

The pool here is a stand-in that records what it was handed and lets the test say when a
batch returns (or its process is lost); the requests carry what celery-batches reads from
a message. ``make bench`` measures the effect on a real worker (``pacing`` in the farm report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from workers.pacing import PacedBatches


@dataclass
class Task:
    acks_late: bool = True


@dataclass
class Message:
    """What celery-batches reads off a request to hand it to a process."""

    id: str
    task: Task = field(default_factory=Task)
    acked: bool = False
    name: str = "shelfwatch.infer"
    delivery_info: dict = field(default_factory=dict)
    hostname: str = "test"
    reply_to: str | None = None
    correlation_id: str | None = None
    request_dict: dict = field(default_factory=dict)
    eta: None = None

    @property
    def _payload(self) -> tuple:
        return ((self.id,), {}, {})

    def acknowledge(self) -> None:
        self.acked = True


class Pool:
    """Records each hand-over; ``finish(i)`` / ``lose(i)`` play the process returning or dying."""

    def __init__(self, processes: int):
        self.num_processes = processes
        self.handed: list[dict] = []

    def apply_async(self, target: Any, args: tuple, **callbacks: Any) -> None:
        batch = [r.args[0] for r in args[1][0]]
        self.handed.append({"ids": batch, **callbacks})

    def finish(self, i: int) -> None:
        self.handed[i]["callback"](None)

    def lose(self, i: int) -> None:
        self.handed[i]["error_callback"](Exception("worker lost"))


def paced(processes: int, flush_every: int = 4) -> tuple[PacedBatches, Pool]:
    task = PacedBatches()
    task.flush_every = flush_every
    task.flush_interval = 0.025
    pool = Pool(processes)
    task._pool = pool
    return task, pool


def arrive(task: PacedBatches, *ids: str) -> list[Message]:
    """Messages into the buffer, then the timer's flush, as celery-batches' strategy does."""
    messages = [Message(i) for i in ids]
    for m in messages:
        task._buffer.put(m)
    task._do_flush()
    return messages


def test_a_busy_process_lets_messages_collect_into_one_full_batch():
    task, pool = paced(processes=1)
    arrive(task, "a")
    assert [h["ids"] for h in pool.handed] == [["a"]]  # idle: a lone photo goes at the first tick
    for i in "bcdef":  # one at a time, each followed by a timer tick, while "a" runs
        arrive(task, i)
    assert len(pool.handed) == 1, "nothing is handed to a busy pool"
    pool.finish(0)
    assert [h["ids"] for h in pool.handed] == [["a"], ["b", "c", "d", "e"]]  # full (flush_every), oldest first
    pool.finish(1)
    assert [h["ids"] for h in pool.handed][-1] == ["f"]  # the rest, held in order, goes next


def test_each_free_process_takes_a_batch():
    task, pool = paced(processes=2)
    arrive(task, *"abcdefghij")
    assert [h["ids"] for h in pool.handed] == [list("abcd"), list("efgh")]
    arrive(task, "k")
    assert len(pool.handed) == 2
    pool.finish(1)
    assert pool.handed[2]["ids"] == ["i", "j", "k"]


def test_messages_are_acknowledged_when_their_batch_returns():
    task, pool = paced(processes=1)
    messages = arrive(task, "a", "b")
    assert not any(m.acked for m in messages)
    pool.finish(0)
    assert all(m.acked for m in messages)


def test_a_lost_process_frees_its_slot_without_acknowledging():
    task, pool = paced(processes=1)
    first = arrive(task, "a")
    arrive(task, "b")
    pool.lose(0)
    assert pool.handed[1]["ids"] == ["b"]
    assert not first[0].acked  # unacknowledged: the broker delivers it again


def test_a_batch_that_never_reports_back_is_forgotten_after_the_time_limit():
    task, pool = paced(processes=1)
    task.forget_after_s = 0.05
    arrive(task, "a")
    arrive(task, "b")
    assert len(pool.handed) == 1
    time.sleep(0.08)
    task._do_flush()  # the next timer tick
    assert pool.handed[1]["ids"] == ["b"]
