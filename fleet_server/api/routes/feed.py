"""WebSocket /api/v1/feed: incident and device events as JSON, token as query parameter
(browsers cannot set headers on a WebSocket)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from fleet_server.api.deps import principal_from_token
from fleet_server.api.security import role_at_least

router = APIRouter(tags=["feed"])
FEED_ROLE = "viewer"


@router.websocket("/feed")
async def feed(ws: WebSocket, token: str = "") -> None:
    p = await asyncio.to_thread(principal_from_token, ws.app, token)
    if p is None or not role_at_least(p.role, FEED_ROLE):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="not authenticated")
        return
    await ws.accept()
    bus = ws.app.state.events
    q = bus.subscribe()
    try:
        await ws.send_json({"type": "hello", "user": p.username, "role": p.role})
        while True:
            ev = await q.get()
            await ws.send_json(ev)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        bus.unsubscribe(q)
