"""Real parts for provisioning: the project's Mosquitto (`broker`), the whole fleet server as a
process (tests.support.server.FleetServer), a technician account, and a MicroPython board on a pty
(simulators.usbdevice). Every process is stopped even when a test fails."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from fleet_server.provisioning.provision import Provisioning, Site
from fleet_server.provisioning.registry import DeviceRegistry
from simulators.usbdevice import UsbDevice
from tests.conftest import OBSERVER_PASS, OBSERVER_USER, start_broker
from tests.support.server import FleetServer

TECH_USER, TECH_PASS = "tech-ani", "tech-secret-1"
# Short waits: a board on the loopback is online within a second or two; these bound failures.
ONLINE_TIMEOUT_S = 20.0
REPL_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """The root conftest's broker, one per test module here: starting the fleet server beside it
    costs 6-11 s on the shared 2 cores, and every test uses its own device ids."""
    b = start_broker(tmp_path_factory.mktemp("broker"))
    try:
        yield b
    finally:
        b.stop()


@contextmanager
def serving_technicians(srv: FleetServer):
    """The server started, with a technician account and its token (srv.tech_token); stopped after."""
    srv.start()
    try:
        r = srv.api("POST", "/users", json={"username": TECH_USER, "password": TECH_PASS, "role": "technician"})
        assert r.status_code == 201, r.text
        srv.tech_token = srv.login(TECH_USER, TECH_PASS)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def fleet_server(tmp_path_factory, broker):
    with serving_technicians(FleetServer(tmp_path_factory.mktemp("server"), broker)) as srv:
        yield srv


@pytest.fixture
def board(tmp_path):
    dev = UsbDevice(tmp_path / "board").start()
    try:
        yield dev
    finally:
        dev.stop()


@pytest.fixture
def site(tmp_path, broker, fleet_server):
    registry = DeviceRegistry(fleet_server.base_url, fleet_server.tech_token)
    try:
        yield Site(registry=registry, broker_dir=broker.workdir, database_url=fleet_server.database_url,
                   data_dir=tmp_path / "technician", broker_host=broker.host, broker_port=broker.tls.port,
                   broker_ca=broker.tls.ca, watch_port=broker.port,   # devices over TLS, the watcher on loopback
                   watch_user=OBSERVER_USER, watch_password=OBSERVER_PASS, repl_timeout_s=REPL_TIMEOUT_S,
                   online_timeout_s=ONLINE_TIMEOUT_S)
    finally:
        registry.close()


@pytest.fixture
def provisioning(site):
    return Provisioning(site)


def broker_login(host: str, port: int, username: str, password: str, timeout: float = 5.0) -> str:
    """Try one MQTT login; the broker's CONNACK reason as text ("Success", "Not authorized", ...)."""
    import threading
    import time

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answer: list[str] = []
    got = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"login-{time.monotonic_ns()}")
    c.username_pw_set(username, password)

    def on_connect(client, userdata, flags, reason_code, properties):
        answer.append(str(reason_code))
        got.set()
    c.on_connect = on_connect
    c.connect(host, port, keepalive=10)
    c.loop_start()
    try:
        if not got.wait(timeout):
            return "no answer"
        return answer[0]
    finally:
        c.loop_stop()
        c.disconnect()
