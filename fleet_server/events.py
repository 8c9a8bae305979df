"""Live events (incident and device changes) for the WebSocket feed. Producers run in any thread
(ingest worker, API threads); each subscriber is an asyncio queue fed on its own loop. A slow
subscriber loses events rather than slowing the ingest: the feed is a view, the database the truth."""
from __future__ import annotations

import asyncio
import threading


class EventBus:
    def __init__(self, max_queue: int = 1000):
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self.max_queue = max_queue
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.max_queue)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), q))
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self._lock:
            self._subs = {(l, x) for (l, x) in self._subs if x is not q}

    def publish(self, event: dict) -> None:
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            try:
                loop.call_soon_threadsafe(self._offer, q, event)
            except RuntimeError:  # that loop is closed: its subscriber is gone
                self.unsubscribe(q)

    def _offer(self, q: asyncio.Queue, event: dict) -> None:
        try:
            q.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
