"""The database as the rest of the code uses it: engines, sessions, and where short work runs.

Callers say what their work is (a session that only reads, transactions that wait for nothing outside
the database); the database decides what to do with it. PostgreSQL (asyncpg) takes it as it comes;
SQLite's tuning lives in store/sqlite.py, and nowhere else."""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from store import sqlite

T = TypeVar("T")

# A session that will only read says so before its first query:
# `await session.connection(execution_options=READ_ONLY)`. SQLite then takes no write lock for it.
READ_ONLY: dict[str, Any] = {sqlite.READ_ONLY_OPTION: True}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        return sqlite.create_engine(url)
    # 20 kept open: connections beyond `pool_size` are closed when returned, and under load opening a new
    # PostgreSQL backend every few requests costs more CPU than keeping them.
    return create_async_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True)


def create_sessions(engine: AsyncEngine, short_transactions: bool = False) -> async_sessionmaker[AsyncSession]:
    """`short_transactions`: the transactions begun here wait for nothing outside the database while they
    are open, so the database may order them (SQLite: writers queue). Not for a request that waits for a
    workflow inside its transaction: holding its turn, it would keep that workflow's steps from writing."""
    if short_transactions and engine.dialect.name == "sqlite":
        return sqlite.queued_sessions(engine)
    return async_sessionmaker(engine, expire_on_commit=False)


class ShortWork(Protocol):
    """Where a process runs short database work that waits for nothing outside the database: a step's
    transaction, an audit row, the lookups on the submit path. Use `sessions` only inside `run`."""

    sessions: async_sessionmaker[AsyncSession]

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T: ...

    async def close(self) -> None: ...


class InPlace:
    """Short work on the caller's own loop, with the given sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await fn(*args)

    async def close(self) -> None:
        return None


class Database:
    """One database for one process: its engine, `sessions` for the process's own loop, and
    `short_work` (PostgreSQL: in place, with `sessions`; SQLite: on a thread with an engine of its own).
    `close()` when the process is done with it."""

    def __init__(self, url: str, short_transactions: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = create_sessions(self.engine, short_transactions=short_transactions)
        self.short_work: ShortWork = sqlite.SQLiteThread(url) if is_sqlite(url) else InPlace(self.sessions)

    async def close(self) -> None:
        await self.engine.dispose()
        await self.short_work.close()
