"""Compare the two CEL libraries for business-rule conditions (docs/rules.md): compile and evaluate a
typical rule. Needs both installed in a scratch environment, not orderflow's:

    python3.11 -m venv /tmp/cel && /tmp/cel/bin/pip install common-expression-language cel-python
    /tmp/cel/bin/python bench/cel_libraries.py
"""

import time
from collections.abc import Callable
from typing import Any

RULE = 'order.channel == "web" && order.total > 300.0 && order.lines.exists(l, l.sku == "MUG-OF")'
FACTS: dict[str, Any] = {
    "order": {
        "channel": "web",
        "total": 456.0,
        "lines": [{"sku": f"SKU-{i}", "quantity": 1, "unit_price": 45.6} for i in range(9)]
        + [{"sku": "MUG-OF", "quantity": 1, "unit_price": 45.6}],
    },
    "customer": {"id": "C-1", "order_count": 3},
}


def per_call(fn: Callable[[], object], n: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    started = time.perf_counter()
    import cel  # common-expression-language (cel-rust)

    imported = time.perf_counter() - started
    program, context = cel.compile(RULE), cel.Context(FACTS)
    assert program.execute(context) is True
    compile_us = per_call(lambda: cel.compile(RULE), 2000)
    print(
        f"common-expression-language: import {imported * 1000:.0f} ms, compile {compile_us:.1f} us, "
        f"evaluate {per_call(lambda: program.execute(context), 20000):.1f} us (context built once), "
        f"context per order {per_call(lambda: cel.Context(FACTS), 20000):.1f} us"
    )

    started = time.perf_counter()
    import celpy  # type: ignore[import-not-found]  # cel-python, not an orderflow dependency

    imported = time.perf_counter() - started
    env = celpy.Environment()
    runner = env.program(env.compile(RULE))
    activation = celpy.json_to_cel(FACTS)
    assert bool(runner.evaluate(activation)) is True
    print(
        f"cel-python: import {imported * 1000:.0f} ms, compile {per_call(lambda: env.compile(RULE), 200):.1f} us, "
        f"evaluate {per_call(lambda: runner.evaluate(activation), 2000):.1f} us, "
        f"context per order {per_call(lambda: celpy.json_to_cel(FACTS), 2000):.1f} us"
    )


if __name__ == "__main__":
    main()
