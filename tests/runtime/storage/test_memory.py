"""The memory store beyond the contract: it serves callers on many threads at once, each with
an event loop of its own (its lock is a thread's, never a loop's)."""

from __future__ import annotations

import functools
import threading

import anyio

from repertory.runtime.storage._memory import MemoryStore

from .conftest import batch, log


def test_writes_from_many_threads_at_once_are_all_kept_each_in_its_order() -> None:
    store = MemoryStore()
    anyio.run(store.open)
    start = threading.Barrier(4)

    def writer(number: int) -> None:
        start.wait()  # all four write at once
        for n in range(200):
            anyio.run(functools.partial(store.write, batch(log(f"f{number}", str(n))), owner="me"))

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for number in range(4):
        lines = anyio.run(store.read_logs, "default", f"f{number}")
        assert [line.message for line in lines] == [str(n) for n in range(200)]
