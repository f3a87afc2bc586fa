"""Engines and sessions for SQLite (embedded default) and PostgreSQL (asyncpg)."""

import asyncio
import contextlib
import fcntl
import functools
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

_READ_ONLY = "orderflow_read_only"
# Pass to `await session.connection(execution_options=READ_ONLY)` before a session's first query.
READ_ONLY: dict[str, Any] = {_READ_ONLY: True}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    # Waits for the lock stay under the activities' 15 s timeout, so a step that cannot get the database
    # fails and is retried rather than committing after Temporal has given up on it.
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
        # (READ_ONLY) does not queue behind writers for a lock it will never need.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

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
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                async with super().begin() as session:
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
