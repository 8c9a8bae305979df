"""Periodic duties: flush batched last-seen times, mark silent devices offline, escalate
unacknowledged incidents and forwards no station accepted (fleet_server/domain/forwards.py).
One thread, one interval (settings.incidents.supervise_every_s).

With several workers, each flushes the last-seen times of the devices it heard (its own share of
the traffic) every round; the rest (offline marking, escalation, SLA breaches, forwarding) is a
singleton duty: it runs only on the worker holding the supervision lease, and its writes are
fenced, so a worker that lost the lease mid-round cannot escalate twice (fleet_server/cluster/leases.py)."""
from __future__ import annotations

import logging
import threading
from contextlib import nullcontext

from fleet_server.domain.service import IncidentService

log = logging.getLogger("siaga.supervisor")


class Supervisor:
    def __init__(self, service: IncidentService, every_s: float, take_seen=lambda: {}, lease=None, fenced=None):
        """lease: the supervision lease (held() or not; None: always held); fenced(lease): a
        context in which every write checks the lease's fencing token."""
        self.service = service
        self.every_s = every_s
        self.take_seen = take_seen
        self.lease = lease
        self.fenced = fenced or (lambda _lease: nullcontext())
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
        if self.lease is not None and not self.lease.held():
            return
        with self.fenced(self.lease):
            self.service.supervise()
            self.service.escalate_due()
            self.service.breach_due()
            if self.service.forwarding is not None:
                self.service.forwarding.tick()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick()
            except Exception:  # a failed round is retried at the next interval
                log.exception("supervision round failed")
