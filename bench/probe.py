"""What a worker or API process asks of its database: statements and transactions, counted by a
SQLAlchemy event on every engine and written as JSON to $BENCH_SQL_COUNTS when the process exits."""

import atexit
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

TARGET = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+\"?(\w+)", re.I | re.S)

statements: Counter[str] = Counter()
transactions: Counter[str] = Counter()


def statement_kind(sql: str) -> str:
    """The statement's verb and table (INSERT orders, SELECT products), else its first two words."""
    match = TARGET.match(sql)
    if match:
        return f"{match.group(1).split()[0].upper()} {match.group(2).lower()}"
    return " ".join(sql.split()[:2]).upper()


def _on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    statements[statement_kind(statement)] += 1


def _on_commit(conn: Any) -> None:
    transactions["commit"] += 1


def _on_rollback(conn: Any) -> None:
    transactions["rollback"] += 1


def _dump(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "statements": sum(statements.values()),
                "by_kind": dict(statements.most_common()),
                "commits": transactions["commit"],
                "rollbacks": transactions["rollback"],
            },
            indent=2,
        )
    )


def install() -> None:
    """Count from now on; a no-op unless $BENCH_SQL_COUNTS names the file to write."""
    target = os.environ.get("BENCH_SQL_COUNTS")
    if not target:
        return
    event.listen(Engine, "before_cursor_execute", _on_execute)
    event.listen(Engine, "commit", _on_commit)
    event.listen(Engine, "rollback", _on_rollback)
    atexit.register(_dump, Path(target))


def run_worker() -> None:
    """orderflow's own worker (`orderflow-worker`), with the counters installed."""
    install()
    from temporalio.worker import Worker

    import worker
    from bench.floor import with_overrides

    # The same what-if worker options as the floor worker gets (none unless --worker-option).
    worker.Worker = with_overrides(Worker)  # type: ignore[assignment,attr-defined]
    worker.main()
