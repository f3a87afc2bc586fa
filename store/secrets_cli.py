"""`orderflow-secrets`: keys that encrypt webhook and partner secrets at rest (store/crypto.py).

orderflow-secrets new-key      print a new key for ORDERFLOW_SECRET_KEYS
orderflow-secrets reencrypt    seal every secret under the first key (after a key rotation, or to seal
                               secrets stored before a key was set)

Rotating the key without downtime: set ORDERFLOW_SECRET_KEYS=<new>,<old> on every process (both keys
read), run `reencrypt`, then drop <old>.
"""

import argparse
import asyncio
import sys

from sqlalchemy import column, select, table, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from config import configure_logging, get_settings
from store import crypto
from store.db import create_engine, create_sessions

# The columns as stored (the tables' own types would open the values): table → (key, sealed columns).
SEALED = {
    "webhook_subscriptions": ("subscription_id", ("secret", "previous_secret")),
    "partners": ("partner_id", ("secret",)),
}
BATCH = 500


async def reencrypt(session: AsyncSession, box: crypto.SecretBox) -> dict[str, int]:
    """Seal every stored secret under the box's first key; how many values changed, per table."""
    changed: dict[str, int] = {}
    for name, (key, columns) in SEALED.items():
        raw = table(name, column(key), *(column(c) for c in columns))
        changed[name] = 0
        after = ""
        while True:
            query = select(raw).where(raw.c[key] > after).order_by(raw.c[key]).limit(BATCH).with_for_update()
            rows = (await session.execute(query)).all()
            if not rows:
                break
            for row in rows:
                values = {c: box.reseal(row._mapping[c]) for c in columns if row._mapping[c] is not None}
                if any(values[c] != row._mapping[c] for c in values):
                    await session.execute(update(raw).where(raw.c[key] == row._mapping[key]).values(**values))
                    changed[name] += 1
            after = rows[-1]._mapping[key]
    return changed


async def _reencrypt(url: str, box: crypto.SecretBox) -> int:
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as session:
            changed = await reencrypt(session, box)
    except (OperationalError, ProgrammingError) as err:
        print(f"cannot use the database ({type(err).__name__}); run orderflow-migrate first?", file=sys.stderr)
        return 1
    except crypto.SecretsLocked as err:
        print(f"{err}: keep the old key in ORDERFLOW_SECRET_KEYS (after the new one) until this ran", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    for name, count in changed.items():
        print(f"{name}: {count} row(s) sealed under the first key")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="orderflow-secrets", description="Encryption keys for secrets at rest.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new-key", help="print a new Fernet key")
    commands.add_parser("reencrypt", help="seal every stored secret under the first key of ORDERFLOW_SECRET_KEYS")
    args = parser.parse_args()
    if args.command == "new-key":
        print(crypto.new_key())
        return
    settings = get_settings()
    configure_logging(settings)
    keys = crypto.keys_of(settings.secret_keys)
    if not keys:
        print("ORDERFLOW_SECRET_KEYS is not set: there is no key to seal with", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(_reencrypt(settings.resolved_database_url, crypto.configure(keys))))


if __name__ == "__main__":
    main()
