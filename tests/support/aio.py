"""Run a coroutine to completion on a fresh event loop in its own thread. Tests use this instead of
asyncio.run(): a session-wide Playwright (sync API) keeps a loop running in the main thread, and
asyncio.run() refuses to start under a running loop."""
from __future__ import annotations

import asyncio
import threading


def run(coro, timeout: float = 600.0):
    box: dict = {}

    def target():
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name="test-asyncio", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"coroutine did not finish within {timeout}s")
    if "error" in box:
        raise box["error"]
    return box.get("result")
