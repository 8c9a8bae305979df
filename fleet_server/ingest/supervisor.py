"""Periodic duties: flush batched last-seen times, mark silent devices offline, escalate
unacknowledged incidents. One thread, one interval (ServerSettings.supervise_every_s)."""
from __future__ import annotations

import logging
import threading

from fleet_server.domain.service import IncidentService

log = logging.getLogger("siaga.supervisor")


class Supervisor:
    def __init__(self, service: IncidentService, every_s: float, take_seen=lambda: {}):
        self.service = service
        self.every_s = every_s
        self.take_seen = take_seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="siaga-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def tick(self) -> None:
        self.service.touch_devices(self.take_seen())
        self.service.supervise()
        self.service.escalate_due()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick()
            except Exception:  # a failed round is retried at the next interval
                log.exception("supervision round failed")
