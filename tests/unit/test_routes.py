"""Routing without servers: no identifier in a path can be shadowed by another route's literal segment
(a SKU named `ledger`, a warehouse named `receipts`)."""

import re
from itertools import combinations

from fastapi.routing import APIRoute

from tests.unit.test_access import api_routes

PARAM = re.compile(r"^\{(\w+)(?::\w+)?\}$")


def _pattern(route: APIRoute, name: str) -> str | None:
    for param in route.dependant.path_params:
        if param.name == name:
            for meta in param.field_info.metadata:
                if (pattern := getattr(meta, "pattern", None)) is not None:
                    return str(pattern)
    return None


def _overlap(a: APIRoute, b: APIRoute) -> list[str]:
    """The identifiers a path could fill to reach both routes; empty when no path reaches both."""
    found = []
    for x, y in zip(a.path.split("/"), b.path.split("/"), strict=True):
        if x == y:
            continue
        mx, my = PARAM.match(x), PARAM.match(y)
        if mx and my:
            continue
        if not mx and not my:
            return []  # two different literals
        literal, route, name = (y, a, mx.group(1)) if mx else (x, b, my.group(1))  # type: ignore[union-attr]
        pattern = _pattern(route, name)
        if pattern is not None and not re.fullmatch(pattern, literal):
            return []  # the literal cannot be such an identifier
        found.append(f"{name}={literal!r}")
    return found


def test_no_identifier_is_shadowed_by_a_literal_segment() -> None:
    routes = [r for r in api_routes() if r.path.startswith("/v1/")]
    clashes = []
    for a, b in combinations(routes, 2):
        if not (a.methods or set()) & (b.methods or set()) or a.path.count("/") != b.path.count("/"):
            continue
        if shadowed := _overlap(a, b):
            clashes.append(f"{a.path} and {b.path} both take {', '.join(shadowed)}")
    assert clashes == []
