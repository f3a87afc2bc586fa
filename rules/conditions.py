"""Conditions: CEL expressions over the order as submitted, compiled and checked when a rule is saved.

The library (`common-expression-language`, cel-rust underneath) parses and evaluates; it has no type
checker and no cost limit of its own, so both are here: every field path is checked against the
fields orderflow provides (with the position of the first unknown one), every top-level clause is run
against a sample order to catch type errors (with the clause's position), and list macros may not
nest (a nested macro over the order's lines costs lines² steps: the way an expression runs away).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cel

MAX_LENGTH = 2000
# A list macro (exists, all, map, ...) over an order's lines costs one step per line; the lines of an
# order are bounded (max_order_lines, at most 10,000), so one level is bounded and a nested one is not.
LIST_BOUND = 10_000
MAX_COST = 100_000
MACROS = ("exists_one", "exists", "all", "map", "filter")

LINE_FIELDS = {"sku": "x", "quantity": 1, "unit_price": 1.0}
FIELDS: dict[str, dict[str, Any]] = {
    "order": {
        "channel": "web",
        "external_id": "X",
        "total": 1.0,
        "currency": "CNY",
        "priority": "standard",
        "lines": [LINE_FIELDS],
        "ship_to": {
            "name": "x",
            "line1": "x",
            "line2": "",
            "city": "x",
            "postal_code": "x",
            "country": "CN",
            "region": "",
        },
    },
    "customer": {"id": "C", "name": "x", "email": "x@example.com", "order_count": 0, "first_order": True},
}
VARIABLES = (*FIELDS, "now")
SAMPLE_NOW = datetime(2026, 1, 1, tzinfo=UTC)

_STRING = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
_PATH = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)+)(\s*\()?")
_MACRO = re.compile(r"\.\s*(" + "|".join(MACROS) + r")\s*\(\s*([A-Za-z_]\w*)\s*,")


@dataclass(frozen=True)
class ConditionError(Exception):
    """Why a condition cannot be saved, and where: `position` counts from 0 in the expression."""

    kind: str  # syntax | unknown_field | type | cost | length
    message: str
    position: int = 0

    def __str__(self) -> str:
        return f"{self.kind} error at {self.position}: {self.message}"


@dataclass(frozen=True)
class Condition:
    source: str
    program: cel.Program
    cost: int

    def holds(self, context: cel.Context) -> bool:
        return self.program.execute(context) is True


def compile_condition(source: str) -> Condition:
    """Compile and check; raises ConditionError naming the position."""
    if len(source) > MAX_LENGTH:
        raise ConditionError("length", f"a condition may be at most {MAX_LENGTH} characters", MAX_LENGTH)
    if not source.strip():
        raise ConditionError("syntax", "a condition is needed (write `true` for every order)", 0)
    try:
        program = cel.compile(source)
    except ValueError as err:
        raise ConditionError("syntax", _syntax_message(err), _syntax_position(source, str(err))) from None
    masked = _STRING.sub(lambda m: " " * len(m.group()), source)
    macro_vars = {m.group(2): m for m in _MACRO.finditer(masked)}
    _check_variables(masked, program, set(macro_vars))
    _check_paths(masked, macro_vars)
    cost = _cost(masked)
    _check_types(source, masked)
    return Condition(source, program, cost)


def context_for(facts: dict[str, Any], now: datetime) -> cel.Context:
    return cel.Context({**facts, "now": now})


def _syntax_message(err: ValueError) -> str:
    text = str(err)
    found = re.search(r"Syntax error: ([^\n|]*)", text)
    return found.group(1).strip() if found else text.splitlines()[0]


def _syntax_position(source: str, text: str) -> int:
    found = re.search(r"<input>:(\d+):(\d+)", text)
    if not found:
        return 0
    line, column = int(found.group(1)), int(found.group(2))
    starts = [0] + [i + 1 for i, c in enumerate(source) if c == "\n"]
    return min(starts[min(line, len(starts)) - 1] + column - 1, len(source))


def _check_variables(masked: str, program: cel.Program, bound: set[str]) -> None:
    for name in program.variables():
        if name in VARIABLES or name in bound:
            continue
        found = re.search(rf"(?<![\w.]){re.escape(name)}\b", masked)
        known = ", ".join(VARIABLES)
        raise ConditionError("unknown_field", f"unknown name {name!r}; known: {known}", found.start() if found else 0)


def _check_paths(masked: str, macro_vars: dict[str, re.Match[str]]) -> None:
    for match in _PATH.finditer(masked):
        root, rest, call = match.group(1), match.group(2), match.group(3)
        parts = [p.strip() for p in rest.split(".") if p.strip()]
        if call:
            parts = parts[:-1]  # the last one is a method: size(), startsWith(), exists(...)
        if root in FIELDS:
            fields: Any = FIELDS[root]
        elif root in macro_vars and _macro_over_lines(masked, macro_vars[root]):
            fields = LINE_FIELDS
        else:
            continue
        offset = match.start(2)
        path = root
        for part in parts:
            offset = masked.index(part, offset)
            if isinstance(fields, list):
                break  # a list's members are reached through macros, checked on their own
            if not isinstance(fields, dict) or part not in fields:
                known = ", ".join(sorted(fields)) if isinstance(fields, dict) else "none"
                raise ConditionError("unknown_field", f"{path} has no field {part!r}; it has: {known}", offset)
            fields, path = fields[part], f"{path}.{part}"
            offset += len(part)


def _macro_over_lines(masked: str, macro: re.Match[str]) -> bool:
    return re.search(r"order\s*\.\s*lines\s*$", masked[: macro.start()]) is not None


def _cost(masked: str) -> int:
    """Steps in the worst case: each macro costs LIST_BOUND steps per step of the macro around it."""
    cost = 0
    for macro in _MACRO.finditer(masked):
        depth = 1 + sum(1 for outer in _MACRO.finditer(masked) if outer.start() < macro.start() < _end(masked, outer))
        steps = LIST_BOUND**depth
        cost += steps
        if cost > MAX_COST:
            raise ConditionError(
                "cost",
                f"{macro.group(1)}() inside another list macro costs up to {steps:,} steps per order "
                f"(limit {MAX_COST:,}); test the lines in one macro",
                macro.start() + 1,
            )
    return max(cost, 1)


def _end(masked: str, macro: re.Match[str]) -> int:
    """Where a macro's argument list closes."""
    depth = 0
    for i in range(masked.index("(", macro.start()), len(masked)):
        depth += {"(": 1, ")": -1}.get(masked[i], 0)
        if depth == 0:
            return i
    return len(masked)


def _clauses(masked: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each top-level clause between && and ||."""
    depth, start, i = 0, 0, 0
    while i < len(masked):
        c = masked[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and masked[i : i + 2] in ("&&", "||"):
            yield start, i
            start, i = i + 2, i + 2
            continue
        i += 1
    yield start, len(masked)


def _check_types(source: str, masked: str) -> None:
    """Run each clause and then the whole against a sample order: CEL does not convert between types,
    so a clause comparing a number with a string fails here, not on a customer's order."""
    sample = context_for(FIELDS, SAMPLE_NOW)
    parts = list(_clauses(masked))
    if len(parts) > 1:
        for start, end in parts:
            clause = source[start:end]
            try:
                cel.compile(clause).execute(sample)
            except ValueError:
                continue  # not a whole expression on its own (a ternary); the whole is checked below
            except (TypeError, RuntimeError) as err:
                lead = len(clause) - len(clause.lstrip())
                raise ConditionError("type", _first_line(err), start + lead) from None
            except (KeyError, IndexError, ZeroDivisionError):
                continue
    try:
        result = cel.compile(source).execute(sample)
    except (TypeError, RuntimeError) as err:
        raise ConditionError("type", _first_line(err), 0) from None
    except (KeyError, IndexError, ZeroDivisionError):
        return  # depends on the order (an index past the sample's lines): decided per order
    if not isinstance(result, bool):
        raise ConditionError("type", f"a condition must be true or false, not {type(result).__name__}", 0)


def _first_line(err: Exception) -> str:
    return str(err).split(". ")[0].splitlines()[0]
