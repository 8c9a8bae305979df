"""The one shape of every HTTP error: `{"code": "...", "reason": "..."}`, code a stable snake_case
word (clients and metrics branch on it), reason a sentence for a person.

A route refuses by raising `HttpRefused(status, code, reason)`; the domain's `Refused` (409) and
`NotFound` (404) pass through unchanged. FastAPI's own errors (validation 422, unknown path 404,
wrong method 405) and anything unexpected (500) are rewritten into the same shape by the handlers
`install(app)` adds. `document(app)` writes the error responses of every route into the OpenAPI
document, all with the `Refusal` schema."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet_server.domain.service import NotFound, Refused
from fleet_server.logs import event

log = logging.getLogger("siaga.api")

# Framework errors by status: the code a client sees when no route chose one.
_CODE_BY_STATUS = {400: "bad_request", 401: "not_authenticated", 403: "insufficient_role", 404: "not_found",
                   405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request",
                   500: "internal_error", 501: "not_implemented", 503: "unavailable"}
_DESCRIPTION = {400: "The report is refused", 401: "No valid bearer token", 403: "The account's role is too low", 404: "No such resource",
                409: "Refused by the rules", 422: "The request is invalid", 429: "Too many failed attempts: wait", 501: "Not installed",
                503: "A part of the server is not running"}


class Refusal(BaseModel):
    """Every HTTP error body."""
    code: str = Field(description="stable snake_case code", examples=["not_found"])
    reason: str = Field(description="a sentence saying why", examples=["incident 7 not found"])


class HttpRefused(Refused):
    """A refusal decided at the HTTP edge (auth, roles, a part not running), with its status."""

    def __init__(self, status_code: int, code: str, reason: str, headers: dict | None = None):
        super().__init__(code, reason)
        self.status_code = status_code
        self.headers = headers


def status_of(e: Refused) -> int:
    if isinstance(e, HttpRefused):
        return e.status_code
    return status.HTTP_404_NOT_FOUND if isinstance(e, NotFound) else status.HTTP_409_CONFLICT


def body(code: str, reason: str) -> dict:
    return Refusal(code=code, reason=reason).model_dump()


def response(status_code: int, code: str, reason: str, headers: dict | None = None) -> JSONResponse:
    """For a route that answers a refusal instead of raising one (device-facing endpoints)."""
    return JSONResponse(body(code, reason), status_code=status_code, headers=headers)


def _validation_reason(e: RequestValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused) -> JSONResponse:
        return response(status_of(e), e.code, e.reason, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return response(422, "invalid_request", _validation_reason(e))

    @app.exception_handler(StarletteHTTPException)
    async def framework(request: Request, e: StarletteHTTPException) -> JSONResponse:
        reason = e.detail if isinstance(e.detail, str) else str(e.detail)
        if e.status_code == 404 and reason == "Not Found":
            reason = f"no route {request.url.path}"
        code = _CODE_BY_STATUS.get(e.status_code, "http_%d" % e.status_code)
        return response(e.status_code, code, reason, getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        event(log, logging.ERROR, "request failed", path=request.url.path, error=repr(e)[:300])
        return response(500, "internal_error", "the server failed; the error is logged")


def responses(*statuses: int) -> dict:
    """For a route decorator: `responses=responses(409, 503)`."""
    return {s: {"model": Refusal, "description": _DESCRIPTION.get(s, "Refused")} for s in statuses}


REFUSAL_REF = "#/components/schemas/Refusal"


def document(app: FastAPI) -> None:
    """Every operation's error responses in /openapi.json, all with the Refusal schema, derived
    from what the route is: a role needs a token (401) and a high enough role (403); a path
    parameter names something that may not exist (404); any parameter or body may be invalid
    (422). Routes add their own (409, 503...) with `responses=responses(...)`."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            _document(generate())
        return app.openapi_schema

    app.openapi = openapi


def _document(schema: dict) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Refusal"] = Refusal.model_json_schema()
    for operations in schema.get("paths", {}).values():
        for op in operations.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            found = set()
            if op.get("x-required-role", "public") != "public":
                found |= {401, 403}
            params = op.get("parameters", [])
            if any(p.get("in") == "path" for p in params):
                found.add(404)
            if params or "requestBody" in op:
                found.add(422)
            for s in found:
                op["responses"].setdefault(str(s), {"description": _DESCRIPTION[s]})
            for s, r in op["responses"].items():
                if s[:1] in "45":
                    r["content"] = {"application/json": {"schema": {"$ref": REFUSAL_REF}}}
    for name in ("HTTPValidationError", "ValidationError"):   # FastAPI's 422 shape, never sent now
        schemas.pop(name, None)
