"""Fixtures that start real parts (Mosquitto, MicroPython processes) and always stop them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hyp_settings

from fleet_server.broker import Mosquitto, TlsListener

# anyio resolves attributes lazily, building its map with `ast` on first use. When that first use is
# a FileResponse in an in-process uvicorn thread while pytest's assertion rewriter runs ast.parse in
# the main thread, CPython 3.11.7 fails with "SystemError: AST constructor recursion depth
# mismatch" (seen once in a full run). Resolve it here, once, in the main thread.
import anyio  # noqa: E402

anyio.open_file  # noqa: B018
from tests.support.paths import shared_root

# CI profile: at least 2,000 examples for each codec property; "dev" is quicker for local loops.
hyp_settings.register_profile("ci", max_examples=2000, deadline=None)
hyp_settings.register_profile("dev", max_examples=200, deadline=None)
hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SERVER_USER, SERVER_PASS = "fleet-server", "server-secret"
OBSERVER_USER, OBSERVER_PASS = "observer", "observer-secret"


@pytest.fixture(autouse=True)
def _logging_as_found():
    """A command run in-process (typer's CliRunner) sets up logging for its process, as it should:
    `siaga device ...` sends the "siaga" loggers to a file and stops them propagating. Put the
    loggers back after each test, so the next one in this worker sees logging as it was."""
    import logging
    root, siaga = logging.getLogger(), logging.getLogger("siaga")
    kept = (root.handlers[:], root.level, siaga.handlers[:], siaga.level, siaga.propagate)
    yield
    root.handlers[:], siaga.handlers[:], siaga.propagate = kept[0], kept[2], kept[4]
    root.setLevel(kept[1])
    siaga.setLevel(kept[3])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_root()


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module, shared by its tests (each opens its own context).
    Playwright's sync API runs one instance per thread and keeps an event loop running in it while
    it lives: one fixture for the whole suite means never two at once, and a module scope means
    none is left running under the next module's own asyncio.run()."""
    from tests.support.browser import Chromium
    c = Chromium()
    try:
        yield c
    finally:
        c.close()


def broker_tls(workdir: Path, hosts=("127.0.0.1", "localhost")) -> TlsListener:
    """A city CA and a broker certificate of its own (siaga pki's code), for a TLS listener on a free port."""
    from fleet_server.broker import pki
    pki.create_ca(workdir)
    sc = pki.server_cert(workdir, list(hosts))
    return TlsListener(sc.cert, sc.key, port=0, ca=sc.ca)   # 0: Mosquitto picks a free port


def start_broker(workdir: Path, tls: bool = True) -> Mosquitto:
    """A real Mosquitto as the project runs it: plaintext on a free loopback port (broker.port), TLS
    for devices on another (broker.tls.port, CA broker.tls.ca), the server and observer accounts;
    per-device accounts are added with broker.add_account(...) + broker.reload()."""
    workdir = Path(workdir)
    b = Mosquitto(workdir, tls=broker_tls(workdir.with_name(workdir.name + "-pki")) if tls else None)
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
