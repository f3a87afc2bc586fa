"""SQLite's tuning, all of it: the connection's pragmas, when a transaction takes the write lock, writers
queueing in and across processes, and a thread of its own for short work with statements run in place.

The rest of the code asks `store.db` for engines, sessions and short work in database-neutral terms; only
this module knows what they mean on SQLite. Why each piece exists is said where it is; what each gained is
in docs/performance.md."""

import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

# The execution option behind `store.db.READ_ONLY`: the session will only read.
READ_ONLY_OPTION = "orderflow_read_only"
_QUEUED = "orderflow_queued"  # the transaction waited its turn among writers (_OneWriterAtATime)

# Waits for the lock stay under the activities' 15 s timeout, so a step that cannot get the database
# fails and is retried rather than committing after Temporal has given up on it.
LOCK_TIMEOUT_S = 10


def create_engine(url: str, in_place: bool = False) -> AsyncEngine:
    """`in_place`: statements run on the calling thread, not on a thread per connection; only for a loop
    that does nothing but database work (SQLiteThread), as each statement blocks it."""
    if in_place:
        connect = functools.partial(
            sqlite3.connect, make_url(url).database, timeout=LOCK_TIMEOUT_S, check_same_thread=False
        )

        async def in_place_connection() -> aiosqlite.Connection:
            return await _InPlaceConnection(connect)

        engine = create_async_engine(url, async_creator=in_place_connection)
    else:
        engine = create_async_engine(url, connect_args={"timeout": LOCK_TIMEOUT_S})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below takes effect.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that later writes fails at once
        # with "database is locked" instead of waiting for busy_timeout. A session that only reads
        # (READ_ONLY) does not queue behind writers for a lock it will never need. In place, only a
        # queued writer may wait for the lock: the wait blocks the thread, and with it the writer that
        # holds the lock, if that is one of the thread's own.
        options = conn.get_execution_options()
        immediate = options.get(_QUEUED) if in_place else not options.get(READ_ONLY_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def queued_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose `begin()` waits its turn among writers (_OneWriterAtATime)."""
    database = engine.url.database
    lock_file = f"{database}.writer" if database and database != ":memory:" else None
    return _OneWriterAtATime(engine, lock_file, expire_on_commit=False)


class _OneWriterAtATime(async_sessionmaker[AsyncSession]):
    """SQLite lets one transaction write at a time. Left to SQLite, writers that find the file locked
    sleep in growing steps before they look again: the lock sits idle while they sleep, and a process
    with one writer (the API's audit row) loses the race to a worker that always has the next one ready.
    Here writers queue instead: in the process on an asyncio lock, and across processes on an OS lock
    beside the database file, which wakes the next waiter as soon as it is free (and is let go by the
    kernel if its holder dies). SQLite's own locking stays underneath; this only orders the queue."""

    def __init__(self, engine: AsyncEngine, lock_file: str | None, **options: Any) -> None:
        super().__init__(engine, **options)
        self._lock_file = lock_file

    def begin(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:  # type: ignore[override]
        return self._queued_begin()

    @contextlib.asynccontextmanager
    async def _queued_begin(self) -> AsyncIterator[AsyncSession]:
        async with self._writer:
            fd = self._fd
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no hand-over to a thread to wait
                except BlockingIOError:
                    await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                async with super().begin() as session:
                    await session.connection(execution_options={_QUEUED: True})
                    yield session
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    @functools.cached_property
    def _writer(self) -> asyncio.Lock:
        return asyncio.Lock()

    @functools.cached_property
    def _fd(self) -> int | None:
        if not self._lock_file:
            return None
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        weakref.finalize(self, os.close, fd)  # closed with the sessionmaker
        return fd


class SQLiteThread:
    """SQLite's short work (store.db.ShortWork) on an event loop of its own, in a thread, with its own
    engine; writers queue, and statements run in place on that thread.

    SQLite lets one transaction write at a time, so how long each transaction holds the lock bounds what
    the whole system can write. In a busy worker a transaction holds it for its own Python and
    statements, and also for every wait until the worker's event loop comes back to it after a
    statement; each statement is besides a round trip to aiosqlite's thread. On a loop of their own
    transactions no longer wait for the busy loop, and with statements run in place no longer hand
    over to another thread per statement. Reads gain the same: one hand-over to this thread and back
    instead of one per statement. The busy loop only waits for the outcome (`run`)."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sqlite", daemon=True)
        self._thread.start()
        self._engine = create_engine(url, in_place=True)
        self.sessions: async_sessionmaker[AsyncSession] = queued_sessions(self._engine)

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`await fn(*args)` on this thread's loop, in the caller's context (activity info, log fields);
        cancelling the caller cancels it there."""
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        started: list[asyncio.Task[T]] = []

        def start() -> None:
            if outcome.cancelled():
                return
            task = self._loop.create_task(_awaited(fn, args))
            started.append(task)
            task.add_done_callback(functools.partial(_settle, outcome))

        self._loop.call_soon_threadsafe(start)  # which runs, and creates the task, in a copy of our context
        try:
            return await asyncio.wrap_future(outcome)
        except asyncio.CancelledError:
            self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in started])
            raise

    async def close(self) -> None:
        await self.run(self._engine.dispose)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()


async def _awaited(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    return await fn(*args)


def _settle(outcome: "concurrent.futures.Future[T]", task: "asyncio.Task[T]") -> None:
    if task.cancelled():
        outcome.cancel()
        return
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the caller was cancelled meanwhile
        if (error := task.exception()) is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(task.result())


class _RunAtOnce:
    """Stands in for the queue to an aiosqlite connection's thread: runs each call at once, in place."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the caller, as aiosqlite's thread does
            if future is not None:
                future.set_exception(error)
        else:
            if future is not None:
                future.set_result(result)


class _InPlaceConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread (it never starts its own)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connect, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()
