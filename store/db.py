"""Engines and sessions for SQLite (embedded default) and PostgreSQL (asyncpg)."""

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

_READ_ONLY = "orderflow_read_only"
# Pass to `await session.connection(execution_options=READ_ONLY)` before a session's first query.
READ_ONLY: dict[str, Any] = {_READ_ONLY: True}
_QUEUED = "orderflow_queued"  # the transaction waited its turn among writers (_OneWriterAtATime)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, in_place: bool = False) -> AsyncEngine:
    """`in_place` (SQLite): statements run on the calling thread, not on a thread per connection; only for
    a loop that does nothing but database work (SQLiteThread), as each statement blocks it."""
    if not is_sqlite(url):
        # 20 kept open: connections beyond `pool_size` are closed when returned, and under load a new
        # PostgreSQL connection for every few requests cost about 2 ms of CPU per submit (bench, 32 clients).
        return create_async_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True)

    # Waits for the lock stay under the activities' 15 s timeout, so a step that cannot get the database
    # fails and is retried rather than committing after Temporal has given up on it.
    if in_place:
        connect = functools.partial(sqlite3.connect, make_url(url).database, timeout=10, check_same_thread=False)

        async def in_place_connection() -> aiosqlite.Connection:
            return await _InPlaceConnection(connect)

        engine = create_async_engine(url, async_creator=in_place_connection)
    else:
        engine = create_async_engine(url, connect_args={"timeout": 10})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below takes effect.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that later writes fails at once
        # with "database is locked" instead of waiting for busy_timeout. A session that only reads
        # (READ_ONLY) does not queue behind writers for a lock it will never need. In place, only a
        # queued writer may wait for the lock: the wait blocks the thread, and with it the writer that
        # holds the lock, if that is one of the thread's own.
        options = conn.get_execution_options()
        immediate = options.get(_QUEUED) if in_place else not options.get(_READ_ONLY)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _OneWriterAtATime(async_sessionmaker[AsyncSession]):
    """SQLite lets one transaction write at a time. Left to SQLite, writers that find the file locked
    sleep in growing steps (up to 100 ms) before they look again: the lock sits idle while they sleep, and
    a process with one writer (the API's audit row) loses the race to a worker that always has the next
    one ready. Here writers queue instead: in the process on an asyncio lock, and across processes on an
    OS lock beside the database file, which wakes the next waiter as soon as it is free (and is let go by
    the kernel if its holder dies). SQLite's own locking stays underneath; this only orders the queue."""

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


def create_sessions(engine: AsyncEngine, queue_writers: bool = False) -> async_sessionmaker[AsyncSession]:
    """`queue_writers` (SQLite only): `begin()` waits its turn before the transaction starts. Only for
    transactions that wait for nothing outside the database while they are open: a request that holds
    its turn while it waits for a workflow would keep that workflow's steps from writing."""
    if queue_writers and engine.dialect.name == "sqlite":
        database = engine.url.database
        lock_file = f"{database}.writer" if database and database != ":memory:" else None
        return _OneWriterAtATime(engine, lock_file, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)


class ShortWork:
    """Where a process runs short database work that waits for nothing outside the database: a step's
    transaction, an audit row, the lookups on the submit path. Here it runs in place, on the caller's
    loop with `sessions`; on SQLite, on a thread of its own (SQLiteThread). Use `sessions` only inside
    `run`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @staticmethod
    def for_database(url: str, sessions: async_sessionmaker[AsyncSession]) -> "ShortWork":
        """`sessions` serve on PostgreSQL; SQLite gets a thread with an engine of its own."""
        return SQLiteThread(url) if is_sqlite(url) else ShortWork(sessions)

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await fn(*args)

    async def close(self) -> None:
        return None


class SQLiteThread(ShortWork):
    """SQLite's short work on an event loop of its own, in a thread, with its own engine; writers queue.

    SQLite lets one transaction write at a time, so how long each transaction holds the lock bounds what
    the whole system can write. Measured in a worker under load, a step's transaction held it 8 to 9 ms
    on average: about 3 ms of the step's own Python, 2 ms in its statements (each a round trip to
    aiosqlite's thread), and the rest waiting for the worker's busy event loop to come back to it. On a
    loop of their own, transactions held it 7.8 ms; with their statements also run in place on that
    loop's thread, 5 ms (docs/performance.md). Reads gain the same: one hand-over to this thread and back
    instead of one per statement. The busy loop only waits for the outcome (`run`)."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sqlite", daemon=True)
        self._thread.start()
        self._engine = create_engine(url, in_place=True)
        super().__init__(create_sessions(self._engine, queue_writers=True))

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
