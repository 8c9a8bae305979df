"""Fixtures that start real parts (Mosquitto, MicroPython processes) and always stop them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hyp_settings

from fleet_server.broker import Mosquitto

# anyio resolves attributes lazily, building its map with `ast` on first use. When that first use is
# a FileResponse in an in-process uvicorn thread while pytest's assertion rewriter runs ast.parse in
# the main thread, CPython 3.11.7 fails with "SystemError: AST constructor recursion depth
# mismatch" (seen once in a full run). Resolve it here, once, in the main thread.
import anyio  # noqa: E402

anyio.open_file  # noqa: B018
from tests.support.paths import SHARED_DATA

# CI profile: at least 2,000 examples for each codec property; "dev" is quicker for local loops.
hyp_settings.register_profile("ci", max_examples=2000, deadline=None)
hyp_settings.register_profile("dev", max_examples=200, deadline=None)
hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SERVER_USER, SERVER_PASS = "fleet-server", "server-secret"
OBSERVER_USER, OBSERVER_PASS = "observer", "observer-secret"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        raise RuntimeError(f"shared captures not found at {SHARED_DATA}: set SIAGA_SHARED_DATA")
    return SHARED_DATA


def start_broker(workdir: Path) -> Mosquitto:
    """A real Mosquitto on a free loopback port with the server and observer accounts; per-device
    accounts are added with broker.add_account(...) + broker.reload()."""
    b = Mosquitto(workdir)
    b.add_account(SERVER_USER, SERVER_PASS, role="server")
    b.add_account(OBSERVER_USER, OBSERVER_PASS, role="observer")
    return b.start()


@pytest.fixture
def broker(tmp_path):
    """A broker per test (start_broker), always stopped."""
    b = start_broker(tmp_path / "broker")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def center(broker, tmp_path):
    """The command center for an end-to-end test: the server process on the test's broker."""
    from tests.support.center import Center
    c = Center(broker, tmp_path / "center")
    c.server.start()
    try:
        yield c
    finally:
        c.server.stop()
