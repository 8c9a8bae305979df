"""Fixtures for the panic-button firmware: a device account on the real broker, the fleet server's
stand-in, and a factory of FirmwareButton processes that are always stopped."""
from __future__ import annotations

import pytest

from simulators.devices.firmware_button import FirmwareButton
from tests.conftest import SERVER_USER, SERVER_PASS
from tests.support.firmware_center import CenterStandIn

DEV, DEV_PASS = "btn-taman-lansia", "pw-taman-lansia"
# Quick timings for tests: what matters is the behaviour, not real minutes.
FAST = dict(hold_ms=300, selftest_ms=200, backoff_min_ms=100, backoff_max_ms=1000, keepalive_s=5,
            connect_timeout_ms=2000)


@pytest.fixture
def center(broker):
    broker.add_account(DEV, DEV_PASS)
    broker.reload()
    c = CenterStandIn(broker.host, broker.port, SERVER_USER, SERVER_PASS)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def make_button(broker, tmp_path):
    made: list[FirmwareButton] = []

    def make(name: str = "dev", device_id: str = DEV, password: str = DEV_PASS, port: int | None = None,
             **cfg) -> FirmwareButton:
        opts = dict(FAST)
        opts.update(cfg)
        b = FirmwareButton(tmp_path / name, device_id, password, broker.host, port or broker.port, **opts)
        made.append(b)
        return b

    try:
        yield make
    finally:
        for b in made:
            b.stop()
