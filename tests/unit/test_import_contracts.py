"""The import-linter contracts (pyproject.toml, `[tool.importlinter]`) hold, and can fail.

The negative controls run `lint-imports` on a copy of the code with one scratch module that breaks an
arrow: each must turn its contract red, or the contracts prove nothing.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("domain", "workflows", "activities", "gateway", "store", "rules", "api", "rehearsal")
MODULES = ("config.py", "egress.py", "worker.py", "devstack.py", "pyproject.toml")
BROKEN = re.compile(r"^(.+) BROKEN(?: \(\d+ ignored imports?\))?$")  # a contract's line in the summary


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy ahead of the editable install's paths; wide enough that no contract name wraps.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    for module in MODULES:
        shutil.copy(ROOT / module, tmp_path / module)
    return tmp_path


def test_the_code_keeps_every_contract(copy: Path) -> None:
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert not [line for line in result.stdout.splitlines() if BROKEN.match(line)]


# One scratch module per contract, each with an import its contract forbids, and the contract's name.
FORBIDDEN = {
    "domain/_scratch.py": ("import api.problems\nimport config", "domain imports nothing of ours"),
    "workflows/_scratch.py": ("import activities.outbox", "workflows import domain only"),
    "activities/_scratch.py": ("import workflows.restock", "activities import domain, store, config"),
    "gateway/_scratch.py": ("import store.orders", "the gateway imports domain and config"),
    "store/_scratch.py": ("import gateway.starts\nimport config", "store imports domain"),
    "rules/_scratch.py": ("import activities.orders", "rules import domain, store and config"),
}


def test_forbidden_imports_break_their_contracts(copy: Path) -> None:
    for module, (imports, _) in FORBIDDEN.items():
        (copy / module).write_text(f"{imports}  # a forbidden arrow\n")
    (copy / "store" / "_uses_api.py").write_text("import api.deps  # nothing may import api\n")
    (copy / "api" / "_uses_rehearsal.py").write_text("import rehearsal.report  # nothing may import the rehearsal\n")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout
    broken = [m.group(1) for line in result.stdout.splitlines() if (m := BROKEN.match(line))]
    for module, (imports, contract) in FORBIDDEN.items():
        assert any(line.startswith(contract) for line in broken), (contract, result.stdout)
        for statement in imports.splitlines():
            edge = f"{module.removesuffix('.py').replace('/', '.')} -> {statement.split()[1]}"
            assert edge in result.stdout, (edge, result.stdout)
    assert "nothing imports api" in broken, result.stdout
    assert "store._uses_api -> api.deps" in result.stdout
    assert "nothing imports the rehearsal" in broken, result.stdout
    assert "api._uses_rehearsal -> rehearsal.report" in result.stdout
    assert f"Contracts: 0 kept, {len(broken)} broken." in result.stdout
