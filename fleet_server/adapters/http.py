"""HTTP endpoints for phones and forwarding servers, answered as each client expects:

- /adapters/osmand   Traccar Client and other OsmAnd-protocol apps, GET or POST (query, form or
                     JSON, batches included): 200 with an empty body when taken, 400 with the
                     reason for a bad request, 503 when an alarm could not be committed (the app
                     keeps the report and sends it again);
- /adapters/owntracks  OwnTracks in HTTP mode (POST JSON; the user and device come in the
                     X-Limit-U / X-Limit-D headers the app sends, or ?u=&d=): 200 with `[]`;
- /adapters/traccar  a Traccar server's position and event forwarding (POST JSON): 200.

The Pipeline is app.state.adapters; the OwnTracks key (optional) app.state.owntracks_key."""
from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from protocols.rejection import Rejection, UNKNOWN_DEVICE
from fleet_server.api import refusals
from fleet_server.adapters.binding import Pipeline
from fleet_server.adapters.osmand import decoder as osmand
from fleet_server.adapters.owntracks import decoder as owntracks
from fleet_server.adapters.traccar import decoder as traccar

router = APIRouter(prefix="/adapters", tags=["adapters"])
PUBLIC = {"x-required-role": "public"}
MAX_BODY = 256 * 1024


def _pipeline(request: Request) -> Pipeline:
    return request.app.state.adapters


def _answer(pipeline: Pipeline, protocol: str, result, received_at: float, ok_body: bytes = b"",
            media_type: str | None = None) -> Response:
    if isinstance(result, Rejection):
        pipeline.note(protocol, "request", result)
        return refusals.response(400, result.code, result.reason)
    ident = next((r.msg["dev"] for r in result if "dev" in r.msg), None)
    if ident is not None and not pipeline.known(protocol, ident):
        r = Rejection(UNKNOWN_DEVICE, "%s device %r is not registered" % (protocol, str(ident)[:40]))
        pipeline.note(protocol, "request", r)
        return refusals.response(400, r.code, r.reason)
    done = pipeline.deliver(protocol, result, received_at)
    if done.refused is not None:
        return refusals.response(503, done.refused.code, done.refused.reason)
    return Response(ok_body, status_code=200, media_type=media_type)


async def _body(request: Request) -> bytes | Rejection:
    body = await request.body()
    if len(body) > MAX_BODY:
        return Rejection("oversize", "a body of at most %d bytes" % MAX_BODY)
    return body


# One route per method: a two-method route gives both operations the same OpenAPI id.
@router.get("/osmand", openapi_extra=PUBLIC, responses=refusals.responses(400, 503))
@router.post("/osmand", openapi_extra=PUBLIC, responses=refusals.responses(400, 503))
@router.api_route("/osmand/", methods=["GET", "POST"], openapi_extra=PUBLIC, include_in_schema=False)
async def osmand_report(request: Request) -> Response:
    now = time.time()
    body = await _body(request)
    if isinstance(body, Rejection):
        result = body
    else:
        result = osmand.decode(request.query_params.multi_items(), body, request.headers.get("content-type", ""), now)
    return await _in_thread(_answer, _pipeline(request), "osmand", result, now)


@router.post("/owntracks", openapi_extra=PUBLIC, responses=refusals.responses(400, 503))
async def owntracks_report(request: Request) -> Response:
    now = time.time()
    user = request.headers.get("x-limit-u") or request.query_params.get("u")
    device = request.headers.get("x-limit-d") or request.query_params.get("d")
    body = await _body(request)
    if not user or not device:
        result = Rejection("no_identity", "OwnTracks HTTP needs the user and device (X-Limit-U, X-Limit-D)")
    elif isinstance(body, Rejection):
        result = body
    else:
        result = owntracks.decode(body, "%s/%s" % (user, device), key=getattr(request.app.state, "owntracks_key", None))
    return await _in_thread(_answer, _pipeline(request), "owntracks", result, now, b"[]", "application/json")


@router.post("/traccar", openapi_extra=PUBLIC, responses=refusals.responses(400, 503))
async def traccar_forward(request: Request) -> Response:
    now = time.time()
    body = await _body(request)
    result = body if isinstance(body, Rejection) else traccar.decode(body, now)
    return await _in_thread(_answer, _pipeline(request), "traccar", result, now)


async def _in_thread(fn, *args):
    from starlette.concurrency import run_in_threadpool
    return await run_in_threadpool(fn, *args)
