"""Fixtures for the GSM tests: simulated modems on real ptys, the SMS network between them, the
center's gateway, and a sink that records what the gateway hands over. Everything started here is
stopped in a finally, also when the test fails."""
from __future__ import annotations

import threading
import time

import pytest

from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
from simulators.modem import SimModem, SmsNetwork

CENTER = "+622270112112"
KEYS = {"btn-bdg-0001": b"k" * 32, "btn-bdg-0002": b"q" * 32}


class RecordingSink:
    """The server's side of the gateway, recording. fail_next makes it refuse (raise) n times."""

    def __init__(self):
        self.alarms, self.aml, self.texts, self.rejected = [], [], [], []
        self.fail_next = 0
        self._cond = threading.Condition()

    def _add(self, where, item):
        with self._cond:
            where.append(item)
            self._cond.notify_all()

    def _maybe_fail(self):
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("incident store unavailable")

    def on_alarm(self, alarm, via, sender_masked):
        self._maybe_fail()
        self._add(self.alarms, (alarm, via, sender_masked))

    def on_aml(self, location, sender, sender_masked, received_at):
        self._maybe_fail()
        self._add(self.aml, (location, sender, sender_masked))

    def on_text_report(self, text, sender, sender_masked, received_at):
        self._maybe_fail()
        self._add(self.texts, (text, sender, sender_masked))
        return "T%d" % len(self.texts)

    def on_rejected(self, rejection, kind, sender_masked):
        self._add(self.rejected, (rejection, kind, sender_masked))

    def wait(self, what: str, count: int = 1, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(getattr(self, what)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(getattr(self, what))


def wait_until(pred, timeout: float = 10.0, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return pred()


@pytest.fixture
def sms_network():
    return SmsNetwork()


@pytest.fixture
def modems(tmp_path, sms_network):
    """make(number, model) -> a started SimModem on its own pty; all stopped at the end."""
    made = []

    def make(number: str, model: str = "SIM800", **kw) -> SimModem:
        m = SimModem(tmp_path / f"modem{len(made)}", number, sms_network, model=model, **kw).start()
        made.append(m)
        return m

    try:
        yield make
    finally:
        for m in made:
            m.stop()


@pytest.fixture
def sink():
    return RecordingSink()


@pytest.fixture
def gateway(modems, sink):
    """The center: a SIM800 on a pty and the gateway reading it with pyserial."""
    center = modems(CENTER, "SIM800", capacity=60)
    replay = MemoryReplayStore()
    gw = SmsGateway(center.port, sink, KEYS.get, replay, sweep_s=2.0, backoff_min_s=0.05, backoff_max_s=0.4)
    gw.center = center
    gw.start()
    try:
        assert gw.connected.wait(10), "gateway did not open the simulated modem"
        yield gw
    finally:
        gw.stop()
