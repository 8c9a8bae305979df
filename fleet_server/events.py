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

    relay = None   # with several workers: sends this worker's events to the others (cluster/notify.py)

    def publish(self, event: dict) -> None:
        """An event of this process: to its subscribers, and to the other workers' feeds."""
        self.publish_local(event)
        if self.relay is not None:
            self.relay(event)

    def publish_local(self, event: dict) -> None:
        """To this process's subscribers only (an event another worker sent)."""
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


class EventPump:
    """Delivers events to a slow listener on its own thread, in order, so the caller (the ingest
    worker, between commit and ack) never waits for it. Unbounded on purpose: dropping an
    incident event would leave dispatch without the incident."""

    def __init__(self, listener, name: str = "event-pump"):
        import logging
        import queue
        self._log = logging.getLogger("siaga.events")
        self.listener = listener
        self._queue: "queue.Queue[dict | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __call__(self, event: dict) -> None:
        self._queue.put(event)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            ev = self._queue.get()
            if ev is None:
                return
            try:
                self.listener(ev)
            except Exception:  # one bad event must not stop the ones after it
                self._log.exception("event listener failed")
