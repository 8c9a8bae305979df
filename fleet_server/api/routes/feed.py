"""WebSocket /api/v1/feed: incident and device events as JSON, token as query parameter
(browsers cannot set headers on a WebSocket)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from fleet_server.api import privacy
from fleet_server.api.deps import principal_from_token
from fleet_server.api.security import role_at_least

router = APIRouter(tags=["feed"])
FEED_ROLE = "viewer"


@router.websocket("/feed")
async def feed(ws: WebSocket, token: str = "") -> None:
    p = await asyncio.to_thread(principal_from_token, ws.app, token)
    await ws.accept()  # accept first, so the client gets the close code and reason, not a bare 403
    if p is None or not role_at_least(p.role, FEED_ROLE):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="not authenticated: pass ?token=")
        return
    bus = ws.app.state.events
    q = bus.subscribe()
    # Listen for the client's close while waiting for events: otherwise a console that left is
    # only noticed at the next event, and server shutdown waits for it.
    gone = asyncio.create_task(_until_closed(ws))
    try:
        await ws.send_json({"type": "hello", "user": p.username, "role": p.role})
        while not gone.done():
            nxt = asyncio.create_task(q.get())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                break
            await ws.send_json(privacy.masked_event(nxt.result()))   # the feed shows numbers masked
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        gone.cancel()
        bus.unsubscribe(q)


async def _until_closed(ws: WebSocket) -> None:
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return
