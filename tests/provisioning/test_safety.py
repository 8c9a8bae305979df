"""A provisioning that fails half-way never leaves a device registered without credentials or
credentials without a device; a port that does not answer and a device that never comes online get
reasons a technician can act on; a decommissioned device is refused by the broker."""
from __future__ import annotations

import os
import time
import tty

import pytest

from fleet_server.provisioning.errors import NeverOnline, PortError, ProvisioningError
from fleet_server.provisioning.journal import Journal
from fleet_server.provisioning.provision import DeviceSpec, Provisioning, Site
from fleet_server.provisioning.registry import DeviceRegistry
from fleet_server.broker.mosquitto import free_port
from tests.support.mqtt import Recorder
from simulators.usbdevice import UsbDevice
from tests.provisioning.conftest import REPL_TIMEOUT_S, broker_login

BUTTON = dict(kind="button", site="Simpang Dago", lat=-6.8850, lon=107.6134, category="fire")


def device_accounts(broker) -> set[str]:
    return {ln.split(":", 1)[0] for ln in broker.passwd.read_text().splitlines() if ln} - {"fleet-server", "observer"}


def test_given_the_cable_is_pulled_mid_write_then_the_credential_is_revoked_and_a_rerun_resumes_without_replace(
        tmp_path, site, board, broker, fleet_server):
    def pull_cable(path, done, total):
        if done > total // 3:
            board.unplug()
    with pytest.raises(PortError) as failed:
        Provisioning(site, on_file=pull_cable).provision(DeviceSpec(device_id="btn-cut-01", **BUTTON), board.port)
    assert "lost the device" in failed.value.reason and "resume" in failed.value.hint

    # Rolled back: the record stays (the API has no delete) but inactive and without credentials,
    # and the broker no longer lists the account.
    view = fleet_server.api("GET", "/devices/btn-cut-01").json()
    assert view["active"] is False and view["has_broker_password"] is False
    assert "btn-cut-01" not in device_accounts(broker)
    journal = Journal(site.data_dir, "btn-cut-01")
    assert journal.state == "rolled_back" and journal.done("broker") and not journal.done("files")
    assert "lost the device" in journal.record["error"]

    # The technician plugs in again (another board here) and runs the same command: it resumes.
    again = UsbDevice(tmp_path / "board-again").start()
    try:
        done = Provisioning(site).provision(DeviceSpec(device_id="btn-cut-01", **BUTTON), again.port)
        view = fleet_server.api("GET", "/devices/btn-cut-01").json()
        assert view["active"] and view["has_broker_password"] and view["status"] == "online"
        assert broker_login(broker.host, broker.port, "btn-cut-01", done.password) == "Success"
        assert Journal(site.data_dir, "btn-cut-01").state == "done"
    finally:
        again.stop()


def test_given_a_port_where_nothing_answers_then_it_fails_with_what_to_check_and_nothing_is_registered(
        provisioning, site, fleet_server):
    master, slave = os.openpty()   # a serial port with no MicroPython behind it
    tty.setraw(slave)
    try:
        t0 = time.monotonic()
        with pytest.raises(PortError) as silent:
            provisioning.provision(DeviceSpec(device_id="btn-mute-01", **BUTTON), os.ttyname(slave))
        assert time.monotonic() - t0 < REPL_TIMEOUT_S + 5
        assert "no MicroPython REPL answered" in silent.value.reason and "flash" in silent.value.hint
    finally:
        os.close(master)
        os.close(slave)
    assert fleet_server.api("GET", "/devices/btn-mute-01").status_code == 404
    assert not Journal(site.data_dir, "btn-mute-01").exists


def test_given_a_port_that_does_not_exist_then_the_error_names_it_and_what_to_check(provisioning, fleet_server):
    with pytest.raises(PortError) as missing:
        provisioning.provision(DeviceSpec(device_id="btn-none-01", **BUTTON), "/dev/ttyUSB-siaga-none")
    assert "cannot open /dev/ttyUSB-siaga-none" in missing.value.reason and "dialout" in missing.value.hint
    assert fleet_server.api("GET", "/devices/btn-none-01").status_code == 404


def test_given_a_device_that_never_reaches_the_broker_then_provisioning_says_what_to_check_and_rolls_back(
        site, board, broker, fleet_server):
    site.broker_port = free_port()      # what the device is told: a port where no broker listens
    site.watch_port = broker.port       # while we watch the real broker
    site.online_timeout_s = 3.0
    with pytest.raises(NeverOnline) as never:
        Provisioning(site).provision(DeviceSpec(device_id="btn-lost-01", **BUTTON), board.port)
    assert "did not come online within 3 s" in never.value.reason
    assert "Wi-Fi" in never.value.hint and "not authorised" in never.value.hint
    assert (board.flash / "config.json").is_file(), "the files were written before it was rebooted"
    view = fleet_server.api("GET", "/devices/btn-lost-01").json()
    assert not view["active"] and not view["has_broker_password"]
    assert Journal(site.data_dir, "btn-lost-01").state == "rolled_back"


def test_given_a_config_the_firmware_would_refuse_then_nothing_is_registered(provisioning, board, fleet_server):
    with pytest.raises(ProvisioningError) as bad:
        provisioning.provision(DeviceSpec(device_id="btn-bad-01", settings={"heartbeat_s": 0}, **BUTTON), board.port)
    assert "heartbeat_s must be an integer" in bad.value.reason
    assert fleet_server.api("GET", "/devices/btn-bad-01").status_code == 404


def test_given_a_button_without_location_then_it_is_refused_before_the_port_is_touched(tmp_path):
    nowhere = Site(registry=DeviceRegistry("http://127.0.0.1:9", "unused"), broker_dir=tmp_path, database_url="",
                   data_dir=tmp_path, broker_host="127.0.0.1", broker_port=1883, watch_user="", watch_password="")
    with pytest.raises(ProvisioningError) as where:
        Provisioning(nowhere).provision(DeviceSpec(kind="button", site="Taman Lansia", device_id="btn-nowhere"), "/dev/null")
    assert "--lat and --lon" in where.value.reason
    assert not Journal(tmp_path, "btn-nowhere").exists


def test_given_an_online_button_when_decommissioned_then_the_broker_drops_it_and_refuses_its_credentials(
        provisioning, board, broker, fleet_server):
    done = provisioning.provision(DeviceSpec(device_id="btn-old-01", **BUTTON), board.port)
    assert broker_login(broker.host, broker.port, "btn-old-01", done.password) == "Success"

    before = len(broker.log.read_text())
    provisioning.decommission("btn-old-01")

    assert broker_login(broker.host, broker.port, "btn-old-01", done.password) == "Not authorized"
    view = fleet_server.api("GET", "/devices/btn-old-01").json()
    assert not view["active"] and not view["has_broker_password"]
    assert "btn-old-01" not in device_accounts(broker)
    # Mosquitto re-checks connected clients on reload: the running firmware is dropped, and its
    # reconnects (it keeps trying, with backoff, as it should) are refused: our login above plus
    # at least one of its own.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        since = broker.log.read_text()[before:]
        if "Client btn-old-01 disconnected" in since and since.count("not authorised") >= 2:
            break
        time.sleep(0.2)
    assert "Client btn-old-01 disconnected" in since
    assert since.count("not authorised") >= 2, since


def test_given_the_technicians_laptop_dies_mid_way_then_the_same_command_resumes_with_a_fresh_secret(
        tmp_path, site, board, broker, fleet_server):
    """SIGKILL leaves no chance to roll back: the journal is what the next run goes by."""
    import json
    import signal
    import subprocess
    import sys

    from tests.support.paths import REPO

    def command(device_port: int, online_timeout: float) -> list[str]:
        return [sys.executable, "-c", "from fleet_server.cli import app; app()", "device", "provision",
                "--port", board.port, "--kind", "button", "--board", "sim", "--site", "Simpang Dago",
                "--lat", "-6.885", "--lon", "107.6134", "--id", "btn-crash-01",
                "--server", fleet_server.base_url, "--token", fleet_server.tech_token,
                "--broker-dir", str(broker.workdir), "--database-url", fleet_server.database_url,
                "--data-dir", str(site.data_dir), "--mqtt-host", broker.host, "--mqtt-port", str(broker.port),
                "--device-port", str(device_port), "--mqtt-user", site.watch_user,
                "--mqtt-password", site.watch_password, "--online-timeout", str(online_timeout)]

    # The first run tells the board a port where no broker listens, so it is surely still waiting
    # for the device when the laptop "dies".
    journal_path = site.data_dir / "provisioning" / "btn-crash-01.json"
    first = subprocess.Popen(command(free_port(), 60), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal_path.is_file() and "files" in json.loads(journal_path.read_text()).get("steps", {}):
                break
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    journal = Journal(site.data_dir, "btn-crash-01")
    assert journal.state == "in_progress" and journal.done("files") and not journal.done("verified")
    stale = json.loads((board.flash / "config.json").read_text())["password"]
    view = fleet_server.api("GET", "/devices/btn-crash-01").json()
    assert view["active"] and view["has_broker_password"], "credentials and record went together"

    second = subprocess.run(command(broker.tls.port, 20), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming btn-crash-01" in second.stdout and "done" in second.stdout
    fresh = json.loads((board.flash / "config.json").read_text())["password"]
    assert fresh != stale
    assert broker_login(broker.host, broker.port, "btn-crash-01", stale) == "Not authorized"
    assert fleet_server.api("GET", "/devices/btn-crash-01").json()["status"] == "online"
    assert Journal(site.data_dir, "btn-crash-01").state == "done"



def _nothing_changed(fleet_server, broker, site, device_id: str, accounts_before: set[str]) -> None:
    assert fleet_server.api("GET", f"/devices/{device_id}").status_code == 404
    assert device_accounts(broker) == accounts_before
    assert not Journal(site.data_dir, device_id).exists


@pytest.mark.parametrize("wrong", ["broker_dir", "broker_down", "watcher", "database"])
def test_given_a_wrong_broker_or_database_setting_then_it_is_refused_before_anything_is_registered(
        wrong, tmp_path, site, board, broker, fleet_server):
    """The docs promise bad input is caught before anything changes: every check that can fail
    (here the broker reload's and the watcher's) runs before the device is registered."""
    import dataclasses

    from fleet_server.broker import Mosquitto

    before = device_accounts(broker)
    other = None
    if wrong == "broker_dir":
        bad = dataclasses.replace(site, broker_dir=tmp_path / "not-a-broker")
    elif wrong == "broker_down":
        other = Mosquitto(tmp_path / "stopped-broker")   # its files exist, no process runs them
        other.add_account("observer", "x", role="observer")
        other._write_files()
        bad = dataclasses.replace(site, broker_dir=other.workdir)
    elif wrong == "watcher":
        bad = dataclasses.replace(site, watch_password="not-the-observers")
    else:
        bad = dataclasses.replace(site, database_url=f"sqlite:///{tmp_path / 'nothing-here' / 'x.db'}")
    with pytest.raises(ProvisioningError) as refused:
        Provisioning(bad).provision(DeviceSpec(device_id=f"btn-early-{wrong}"[:32], **BUTTON), board.port)
    assert refused.value.reason and refused.value.hint
    assert "ROLLBACK" not in str(refused.value)
    _nothing_changed(fleet_server, broker, site, f"btn-early-{wrong}"[:32], before)
    assert board.boots == 1   # nothing was written to it either


def test_given_a_tracker_for_an_unknown_unit_then_it_is_refused_before_anything_is_registered(
        provisioning, board, broker, fleet_server):
    before = device_accounts(broker)
    with pytest.raises(ProvisioningError) as refused:
        provisioning.provision(DeviceSpec(kind="tracker", unit="AMB-99", device_id="trk-amb-99", category="medical"),
                               board.port)
    assert "unit AMB-99 is not registered" in refused.value.reason and "POST /api/v1/units" in refused.value.hint
    _nothing_changed(fleet_server, broker, provisioning.site, "trk-amb-99", before)


def test_given_an_account_that_is_not_a_technician_then_it_is_refused_before_anything_is_registered(
        tmp_path, site, board, broker, fleet_server):
    import dataclasses

    r = fleet_server.api("POST", "/users", json={"username": "viewer-vina", "password": "viewer-pw-1", "role": "viewer"})
    assert r.status_code == 201, r.text
    viewer = DeviceRegistry.login(fleet_server.base_url, "viewer-vina", "viewer-pw-1")
    before = device_accounts(broker)
    try:
        with pytest.raises(ProvisioningError) as refused:
            Provisioning(dataclasses.replace(site, registry=viewer)).provision(
                DeviceSpec(device_id="btn-viewer-01", **BUTTON), board.port)
    finally:
        viewer.close()
    assert "is a viewer; this needs a technician" in refused.value.reason
    _nothing_changed(fleet_server, broker, site, "btn-viewer-01", before)


def test_given_no_watcher_account_when_provisioning_on_the_servers_host_then_it_watches_on_its_own_session(
        tmp_path, monkeypatch):
    """Client ids are bound to accounts: watching as the server's main account would take the running
    server's session (and the server would take it back), so the device never seemed to come online.
    A server account watches on its `watch` session; an observer account (the demo's) as itself."""
    from fleet_server.broker import SERVER_SESSIONS, session_user
    from fleet_server.provisioning.cli import _site
    from tests.conftest import OBSERVER_PASS, OBSERVER_USER, SERVER_PASS, SERVER_USER, start_broker
    broker = start_broker(tmp_path / "broker", tls=False)
    try:
        monkeypatch.setenv("SIAGA_BROKER__USERNAME", SERVER_USER)
        monkeypatch.setenv("SIAGA_BROKER__PASSWORD", SERVER_PASS)
        site = _site(registry=None, broker_dir=broker.workdir, database_url="sqlite://", data_dir=tmp_path,
                     broker_ca=None, tls=False)
        assert site.watch_user == session_user(SERVER_USER, "watch")
        assert site.watch_user not in {session_user(SERVER_USER, s) for s in SERVER_SESSIONS if s != "watch"}
        assert site.watch_password == SERVER_PASS
        watcher = Recorder(broker.host, broker.port, site.watch_user, site.watch_password)   # the broker lets it in
        watcher.close()
        monkeypatch.setenv("SIAGA_BROKER__USERNAME", OBSERVER_USER)
        monkeypatch.setenv("SIAGA_BROKER__PASSWORD", OBSERVER_PASS)
        site = _site(registry=None, broker_dir=broker.workdir, database_url="sqlite://", data_dir=tmp_path,
                     broker_ca=None, tls=False)
        assert site.watch_user == OBSERVER_USER
    finally:
        broker.stop()
