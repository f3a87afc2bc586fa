"""The OpenAPI description says what the API really does: problem+json errors, the key it needs, and
the deployment's limits."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import MEDIA_TYPE, Problem
from config import Settings

PROBLEM_REF = "#/components/schemas/Problem"
REPLACED_ERRORS = {PROBLEM_REF, "#/components/schemas/HTTPValidationError"}
WRITES = {"post", "put", "patch", "delete"}

ACCESS_ERRORS = {
    "401": "no API key, or an unknown or revoked one",
    "403": "the key's role does not allow this",
    "429": "the key is over its rate limit; retry after `Retry-After` seconds",
}
WRITE_ERRORS = {
    "413": "the request body is over the size limit",
    "422": "the request is invalid; `errors` names each field at fault",
}
IDEMPOTENT_ERRORS = {
    "409": "a request with this Idempotency-Key is still running (retry after `Retry-After`), "
    "or the request does not apply",
    "422": "the request is invalid, or the Idempotency-Key was used with a different request",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}


def _hoist_defs(node: Any, schemas: dict[str, Any]) -> Any:
    """Schemas written by hand into a route (`openapi_extra`) carry their own `$defs`, which a `#/$defs/...`
    reference cannot reach from the document's root: move them to the components and point there."""
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            schemas.setdefault(name, _hoist_defs(schema, schemas))
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
        for key, value in node.items():
            node[key] = _hoist_defs(value, schemas)
    elif isinstance(node, list):
        return [_hoist_defs(item, schemas) for item in node]
    return node


def describe(app: FastAPI, settings: Settings) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    _hoist_defs(spec["paths"], schemas)
    for name, schema in Problem.model_json_schema(ref_template="#/components/schemas/{model}")["$defs"].items():
        schemas.setdefault(name, schema)
    schemas.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    schemas["Problem"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)

    for path_item in spec["paths"].values():
        for method, operation in path_item.items():
            responses: dict[str, Any] = operation["responses"]
            for status, response in list(responses.items()):
                refs = {c.get("schema", {}).get("$ref") for c in response.get("content", {}).values()}
                if status.isdigit() and int(status) >= 400 and refs & REPLACED_ERRORS:
                    responses[status] = _problem(response.get("description") or "a problem")
            if "security" not in operation:
                continue
            for status, description in ACCESS_ERRORS.items():
                responses.setdefault(status, _problem(description))
            if method in WRITES:
                for status, description in WRITE_ERRORS.items():
                    responses.setdefault(status, _problem(description))
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "send again with the same key and body to get the first answer, not a "
                        "second action; kept for 24 hours per API key",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
                    }
                )
                for status, description in IDEMPOTENT_ERRORS.items():
                    responses[status] = _problem(description)
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "limit" and parameter["in"] == "query":
                    parameter["schema"]["maximum"] = settings.max_page_size
    for name, schema in schemas.items():
        if name.startswith("SubmitOrder"):
            schema["properties"]["lines"]["maxItems"] = settings.max_order_lines
    return spec


def install(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
