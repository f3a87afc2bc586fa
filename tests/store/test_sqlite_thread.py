"""SQLite's thread for short work (store/sqlite.py): work runs there in the caller's context, its outcome comes back,
cancelling reaches it, and its in-place transactions queue with other processes' writers."""

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from store.db import create_engine, create_sessions
from store.sqlite import SQLiteThread
from store.tables import Warehouse
from tests.conftest import unique

CALLER = contextvars.ContextVar[str]("caller")


@pytest.fixture
async def thread(sqlite_url: str) -> AsyncIterator[SQLiteThread]:
    thread = SQLiteThread(sqlite_url)
    yield thread
    await thread.close()


async def test_work_runs_on_the_thread_in_the_callers_context(thread: SQLiteThread) -> None:
    async def where() -> tuple[str, str]:
        await asyncio.sleep(0)
        return threading.current_thread().name, CALLER.get()

    CALLER.set("step 1")
    assert await thread.run(where) == ("sqlite", "step 1")


async def test_an_error_comes_back_to_the_caller(thread: SQLiteThread) -> None:
    async def fail(message: str) -> None:
        raise LookupError(message)

    with pytest.raises(LookupError, match="no such pick list"):
        await thread.run(fail, "no such pick list")


async def test_cancelling_the_caller_cancels_the_work(thread: SQLiteThread) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = asyncio.create_task(thread.run(forever))
    await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_a_read_on_the_thread_does_not_wait_for_its_own_writer(thread: SQLiteThread) -> None:
    """A writer that awaits something mid-transaction leaves the thread to others; a read there must
    not wait for the write lock (waiting in place would block the writer too, until SQLite gives up)."""
    code = unique("W")
    written = asyncio.Event()

    async def slow_write() -> None:
        async with thread.sessions.begin() as s:
            s.add(Warehouse(code=code, name="slow"))
            await s.flush()
            written.set()
            await asyncio.sleep(0.5)  # e.g. a partner's answer

    async def read() -> int:
        await written.wait()
        async with thread.sessions() as s:
            return (await s.execute(select(func.count()).where(Warehouse.code == code))).scalar_one()

    writing = asyncio.create_task(thread.run(slow_write))
    assert await asyncio.wait_for(thread.run(read), timeout=5) == 0  # not committed yet
    await writing


async def test_writers_of_two_processes_queue_and_none_is_lost(sqlite_url: str) -> None:
    """Two SQLite threads stand for two worker processes: separate engines and locks on one file. Every
    read-then-write increment lands; a failing transaction leaves nothing behind."""
    counter, half = unique("W"), unique("W")
    engine = create_engine(sqlite_url)
    async with create_sessions(engine).begin() as s:
        s.add(Warehouse(code=counter, name="0"))
    first, second = SQLiteThread(sqlite_url), SQLiteThread(sqlite_url)

    async def increment(thread: SQLiteThread) -> None:
        async with thread.sessions.begin() as s:
            name = (await s.execute(select(Warehouse.name).where(Warehouse.code == counter))).scalar_one()
            await asyncio.sleep(0)  # let others try to slip in between the read and the write
            await s.execute(update(Warehouse).where(Warehouse.code == counter).values(name=str(int(name) + 1)))

    async def half_done(thread: SQLiteThread) -> None:
        async with thread.sessions.begin() as s:
            s.add(Warehouse(code=half, name="never"))
            await s.flush()
            raise RuntimeError("step failed after writing")

    try:
        await asyncio.gather(*(w.run(increment, w) for w in (first, second) for _ in range(40)))
        with pytest.raises(RuntimeError):
            await first.run(half_done, first)
        async with create_sessions(engine)() as s:
            assert (await s.execute(select(Warehouse.name).where(Warehouse.code == counter))).scalar_one() == "80"
            assert (await s.execute(select(func.count()).where(Warehouse.code == half))).scalar_one() == 0
    finally:
        await first.close()
        await second.close()
        await engine.dispose()
