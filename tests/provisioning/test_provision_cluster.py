"""Provisioning on a center whose broker is the cluster (three NATS nodes, haproxy in front; `siaga
cluster start`): the technician's one command registers the board, puts its account on every node from
the server's database, and the board boots the written files and comes online through haproxy's TLS
front; decommissioning takes the account off the nodes again. The server consumes through NATS."""
from __future__ import annotations

import json
import time

import pytest

from fleet_server.provisioning.provision import DeviceSpec, Provisioning, Site
from fleet_server.provisioning.registry import DeviceRegistry
from tests.conftest import OBSERVER_PASS, OBSERVER_USER, SERVER_PASS, SERVER_USER
from tests.provisioning.conftest import ONLINE_TIMEOUT_S, REPL_TIMEOUT_S, broker_login, serving_technicians
from tests.support.cluster import running_cluster
from tests.support.server import FleetServer

pytestmark = pytest.mark.timeout(180)
TAMAN_LANSIA = dict(kind="button", site="Taman Lansia", lat=-6.9021, lon=107.6224, category="medical")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def fleet_server(tmp_path_factory, cluster):
    with serving_technicians(FleetServer(tmp_path_factory.mktemp("server"), cluster, mqtt_user=SERVER_USER,
                                         mqtt_password=SERVER_PASS,
                                         env={"SIAGA_MQTT_TRANSPORT": "nats",
                                              "SIAGA_MQTT_NATS_SERVERS": ",".join(cluster.urls)})) as srv:
        yield srv


@pytest.fixture
def provisioning(tmp_path, cluster, fleet_server):
    registry = DeviceRegistry(fleet_server.base_url, fleet_server.tech_token)
    try:
        yield Provisioning(Site(registry=registry, broker_dir=cluster.workdir, database_url=fleet_server.database_url,
                                data_dir=tmp_path / "technician", broker_host=cluster.host,
                                broker_port=cluster.tls.port, broker_ca=cluster.tls.ca, watch_port=cluster.port,
                                watch_user=OBSERVER_USER, watch_password=OBSERVER_PASS,
                                repl_timeout_s=REPL_TIMEOUT_S, online_timeout_s=ONLINE_TIMEOUT_S))
    finally:
        registry.close()


def _device_accounts(cluster) -> dict:
    state = json.loads((cluster.workdir / "cluster.json").read_text())
    return {user: pw_hash for user, pw_hash, role in state["accounts"] if role == "device"}


def test_given_the_cluster_when_a_board_is_provisioned_then_it_comes_online_through_it_and_decommission_revokes_it(
        provisioning, cluster, fleet_server, tmp_path):
    from simulators.usbdevice import UsbDevice

    board = UsbDevice(tmp_path / "board").start()
    try:
        done = provisioning.provision(DeviceSpec(device_id="btn-nc-p1", **TAMAN_LANSIA), board.port)
        assert done.birth["dev"] == "btn-nc-p1", done
        config = json.loads((board.flash / "config.json").read_text())
        assert config["port"] == cluster.tls.port and config["tls"] is True
        # its account is on the nodes, from the server's database: a bcrypt hash, never the password
        stored = _device_accounts(cluster)
        assert stored["btn-nc-p1"].startswith("$2") and done.password not in (cluster.workdir / "accounts.conf").read_text()
        assert broker_login(cluster.host, cluster.port, "btn-nc-p1", done.password, timeout=15) == "Success"
        assert broker_login(cluster.host, cluster.port, "btn-nc-p1", "not-" + done.password, timeout=15) != "Success"
        assert done.birth["state"] == "online" and done.health["boot"] == done.birth["boot"]
        view = fleet_server.api("GET", "/devices/btn-nc-p1").json()
        assert view["status"] == "online" and view["has_broker_password"], view

        downs = board.console().count("mqtt_down")
        provisioning.decommission("btn-nc-p1")
        # locked under a password nobody has, not dropped: a reload that drops a user whose retained
        # birth the cluster holds crashes nats-server 2.9 (nats-io/nats-server#7596)
        assert _device_accounts(cluster)["btn-nc-p1"] != stored["btn-nc-p1"]
        assert broker_login(cluster.host, cluster.port, "btn-nc-p1", done.password, timeout=15) != "Success"
        assert [n.name for n in cluster.nodes if n.proc.poll() is not None] == [], "every node lived through it"
        # its open connection is closed too, as Mosquitto does on reload, not only its next login refused
        deadline = time.monotonic() + 15
        while board.console().count("mqtt_down") == downs and time.monotonic() < deadline:
            time.sleep(0.2)
        assert board.console().count("mqtt_down") > downs, board.console()[-1500:]
        # the service accounts stay: the server still consumes and the observer still watches
        assert broker_login(cluster.host, cluster.port, OBSERVER_USER, OBSERVER_PASS, timeout=15) == "Success"
    finally:
        board.stop()
