"""`orderflow-keys`: create, list and revoke API keys from the command line (the same as /v1/api-keys).

orderflow-keys create --name carol --role handler
orderflow-keys create --name shopify --role channel --channel web
orderflow-keys create --name acme-wms --role partner --partner acme-wms
orderflow-keys list [--all]
orderflow-keys revoke k_0123456789abcdef
"""

import argparse
import asyncio
import sys

from sqlalchemy.exc import OperationalError, ProgrammingError

from config import configure_logging, get_settings
from domain.access import Role
from store import keys
from store.db import create_engine, create_sessions
from store.shared import announce_revocation, redis_of


async def _run(url: str, args: argparse.Namespace, redis_url: str = "") -> int:
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as session:
            if args.command == "create":
                try:
                    key, secret = await keys.create(session, args.name, Role(args.role), args.channel, args.partner)
                except ValueError as err:
                    print(err, file=sys.stderr)
                    return 2
                print(f"created {key.key_id} ({key.name}, {key.role}{', ' + key.channel if key.channel else ''})")
                print(f"key (shown once, store it now): {secret}")
            elif args.command == "list":
                rows = await keys.page(session, include_revoked=args.all, after=None, limit=10_000)
                for k in rows:
                    revoked = f"  revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else ""
                    print(
                        f"{k.key_id}  {k.name:<24} {k.role:<8} {k.channel or '-':<10} {k.created_at:%Y-%m-%d}{revoked}"
                    )
            else:
                revoked_key = await keys.revoke(session, args.key_id)
                if revoked_key is None:
                    print(f"no API key {args.key_id}", file=sys.stderr)
                    return 1
                redis = redis_of(redis_url)
                await announce_revocation(redis, revoked_key.key_id)
                if redis is not None:
                    await redis.aclose()
                print(f"revoked {revoked_key.key_id} ({revoked_key.name}); its next request is refused")
    except (OperationalError, ProgrammingError) as err:
        print(f"cannot use the database ({type(err).__name__}); run orderflow-migrate first?", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="orderflow-keys", description="Manage orderflow API keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True, help="who holds it (the audit log shows key:<name>)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--channel", help="the channel a channel key is bound to")
    create.add_argument("--partner", help="the partner (warehouse or carrier) a partner key acts for")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = commands.add_parser("revoke", help="revoke a key: refused from its next request on")
    revoke.add_argument("key_id")
    args = parser.parse_args()
    if args.command == "create" and (args.role == Role.CHANNEL) != (args.channel is not None):
        parser.error("--channel is required for role channel, and only for it")
    if args.command == "create" and (args.role == Role.PARTNER) != (args.partner is not None):
        parser.error("--partner is required for role partner, and only for it")
    settings = get_settings()
    configure_logging(settings)
    sys.exit(asyncio.run(_run(settings.resolved_database_url, args, settings.redis_url)))


if __name__ == "__main__":
    main()
