"""orderflow-import FILE: upload an order spreadsheet to the API and follow the import to its end.

Goes through the API, so the key's role and channel apply and the upload is in the audit log.
Exit status: 0 when every order was created or already there, 1 when some were invalid, 2 when the
file was refused as a whole or the API could not be reached.
"""

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import httpx

UPLOAD = "/v1/orders/import"


async def import_file(
    http: httpx.AsyncClient, path: Path, out: TextIO, poll_s: float = 0.5, timeout_s: float = 3600
) -> int:
    """Upload `path`, print progress until the import completes, then one line per order."""
    content = await asyncio.to_thread(path.read_bytes)
    answer = await http.post(UPLOAD, files={"file": (path.name, content)})
    if answer.status_code not in (200, 202):
        _refused(answer, out)
        return 2
    body: dict[str, Any] = answer.json()
    location = answer.headers["location"]
    print(f"import {body['import_id']}: {body['rows']} rows, {body['progress']['orders']} orders", file=out)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while body["status"] != "completed":
        _progress(body, out)
        if asyncio.get_running_loop().time() > deadline:
            print(f"still running; follow it at {location}", file=out)
            return 2
        await asyncio.sleep(poll_s)
        # While it runs, only the counts matter: ask for the (few) invalid orders, not all of them.
        polled = await http.get(location, params={"outcome": "invalid"})
        if polled.status_code != 200:
            _refused(polled, out)
            return 2
        body = polled.json()
    async for result in _all_results(http, location):
        rows = ",".join(str(n) for n in result["rows"])
        print(f"{result['outcome']:<9} {result['order_id'] or '-'} (rows {rows})", file=out)
        for error in result["errors"]:
            at = ",".join(str(n) for n in error["rows"])
            column = f" {error['column']}" if error["column"] else ""
            print(f"          row {at}{column}: {error['message']}", file=out)
    _progress(body, out)
    return 1 if body["progress"]["invalid"] else 0


async def _all_results(http: httpx.AsyncClient, location: str) -> AsyncIterator[dict[str, Any]]:
    """Every order of a finished import, page after page."""
    params: dict[str, str] = {}
    while True:
        answer = await http.get(location, params=params)
        answer.raise_for_status()
        page = answer.json()
        for result in page["results"]:
            yield result
        if page["next_cursor"] is None:
            return
        params["cursor"] = page["next_cursor"]


def _progress(body: dict[str, Any], out: TextIO) -> None:
    p = body["progress"]
    print(
        f"{body['status']}: {p['created']} created, {p['duplicate']} duplicate, {p['invalid']} invalid, "
        f"{p['pending']} pending of {p['orders']}",
        file=out,
    )


def _refused(answer: httpx.Response, out: TextIO) -> None:
    try:
        problem = answer.json()
        print(f"refused ({answer.status_code}): {problem.get('detail') or problem.get('title')}", file=out)
    except ValueError:
        print(f"refused ({answer.status_code}): {answer.text[:200]}", file=out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orderflow-import", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a .csv (UTF-8) or .xlsx file, one row per order line")
    parser.add_argument("--api", default=os.environ.get("ORDERFLOW_API_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("ORDERFLOW_API_KEY"), help="or ORDERFLOW_API_KEY")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("an API key is needed: --key or ORDERFLOW_API_KEY")
    if not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    return args


async def _main(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.key}"}
    async with httpx.AsyncClient(base_url=args.api, headers=headers, timeout=120) as http:
        try:
            return await import_file(http, args.file, sys.stdout)
        except httpx.HTTPError as err:
            print(f"could not reach {args.api}: {err}", file=sys.stderr)
            return 2


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(_main(parse_args(argv))))


if __name__ == "__main__":
    main()
