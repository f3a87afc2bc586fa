"""Every console page but sign-in and the language switch needs a signed-in person (and so the CSRF
check on changes and htmx requests: api/console/sessions.py)."""

from fastapi.dependencies.models import Dependant

from api.access import CONSOLE_PREFIX
from api.console.sessions import signed_in
from tests.unit.test_access import api_routes

OPEN = {"/console", "/console/login", "/console/lang/{language}"}


def _needs(dependant: Dependant) -> bool:
    return dependant.call is signed_in or any(_needs(d) for d in dependant.dependencies)


def test_every_console_route_needs_a_session() -> None:
    console = [r for r in api_routes() if r.path.startswith(CONSOLE_PREFIX)]
    assert len(console) > 10
    assert [r.path for r in console if r.path not in OPEN and not _needs(r.dependant)] == []
    # Changes are POSTs (so the CSRF check applies to them); the sign-in POST has its own token.
    assert all(m in {"GET", "POST"} for r in console for m in r.methods or ())
