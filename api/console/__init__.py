"""The operations console at /console: server-rendered pages (Jinja2 + htmx) over the API's own code.

`install(app)` adds its routes, static files and the sign-in redirect; the app factory adds
`ConsoleSessionMiddleware` between the key check and the audit log (api/app.py).
"""

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import actions, operations, pages, rules
from api.console.common import HERE
from api.console.kpis import KpiMemory
from api.console.operations import UPLOAD_PATH
from api.console.sessions import PREFIX, ConsoleSessionMiddleware, SignInRequired

__all__ = ["UPLOAD_PATH", "ConsoleSessionMiddleware", "install"]


async def _sign_in(request: Request, _: Exception) -> Response:
    login = f"{PREFIX}/login"
    if "hx-request" in request.headers:
        return Response(status_code=401, headers={"HX-Redirect": login})
    return RedirectResponse(login, status_code=303)


def install(app: FastAPI) -> None:
    app.state.console_kpis = KpiMemory()
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(operations.router)
    app.include_router(rules.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in)
