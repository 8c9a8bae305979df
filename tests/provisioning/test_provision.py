"""Provisioning a blank MicroPython board on a pty against the real fleet server and Mosquitto:
the files land on its flash, the firmware boots from them, connects with its own new credentials,
and the server shows it online."""
from __future__ import annotations

import json
import sqlite3

import pytest
from PIL import Image
from typer.testing import CliRunner

from fleet_server.broker.credentials import verify_password
from fleet_server.provisioning.cli import device_app
from fleet_server.provisioning.errors import ProvisioningError
from fleet_server.provisioning.firmware_files import REPO
from fleet_server.provisioning.journal import Journal
from fleet_server.provisioning.provision import DeviceSpec
from simulators.usbdevice import UsbDevice
from tests.conftest import OBSERVER_PASS, OBSERVER_USER
from tests.provisioning.conftest import ONLINE_TIMEOUT_S, broker_login

TAMAN_LANSIA = dict(kind="button", site="Taman Lansia", lat=-6.9021, lon=107.6224, category="medical")


def stored_hash(fleet_server, device_id: str) -> str | None:
    db = fleet_server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as c:
        row = c.execute("select broker_password_hash from devices where id = ?", (device_id,)).fetchone()
    return row[0] if row else None


def test_given_a_blank_board_when_provisioned_then_it_boots_from_the_written_files_and_the_server_shows_it_online(
        provisioning, board, broker, fleet_server):
    done = provisioning.provision(DeviceSpec(device_id="btn-tl-01", **TAMAN_LANSIA), board.port)

    # The flash holds exactly what the repository's sources say, plus main.py and config.json.
    config = json.loads((board.flash / "config.json").read_text())
    assert config["dev"] == "btn-tl-01" and config["password"] == done.password
    assert (config["lat"], config["lon"], config["site"]) == (-6902100, 107622400, "Taman Lansia")
    assert (config["host"], config["port"]) == (broker.host, broker.tls.port)
    # Over TLS, trusting only the city CA: the broker's certificate is checked against it.
    assert config["tls"] is True and (board.flash / config["ca_file"]).read_bytes() == broker.tls.ca.read_bytes()
    assert (board.flash / "main.py").read_text().startswith("from firmware.main import main")
    for rel in ("firmware/app/panic_button.py", "firmware/ports/sim.py", "protocols/codec_json.py"):
        assert (board.flash / rel).read_bytes() == (REPO / rel).read_bytes()
    assert not (board.flash / "firmware/app/tracker.py").exists(), "a button carries no tracker code"

    # It rebooted into main.py (the board's import path is its flash only) and came online.
    assert board.boots == 2
    assert "siaga info boot" in board.console() and "dev=btn-tl-01" in board.console()
    assert done.birth["state"] == "online" and done.birth["dev"] == "btn-tl-01"
    assert done.health["t"] == "health" and done.health["boot"] == done.birth["boot"]
    view = fleet_server.api("GET", "/devices/btn-tl-01").json()
    assert view["status"] == "online" and view["active"] and view["has_broker_password"]
    assert view["site"] == "Taman Lansia" and (view["lat_udeg"], view["lon_udeg"]) == (-6902100, 107622400)

    # Stored hashed: the server keeps a $7$ hash that verifies, never the secret.
    h = stored_hash(fleet_server, "btn-tl-01")
    assert h.startswith("$7$") and verify_password(done.password, h) and done.password not in h
    assert broker_login(broker.host, broker.port, "btn-tl-01", done.password) == "Success"
    assert broker_login(broker.host, broker.port, "btn-tl-01", "not-" + done.password) == "Not authorized"

    # The label carries a QR code; the journal records every step.
    with Image.open(done.label_path) as img:
        assert img.format == "PNG" and img.width >= 200 and img.height > img.width
    assert len(done.check_code) == 6
    j = Journal(provisioning.site.data_dir, "btn-tl-01")
    assert j.state == "done" and all(j.done(s) for s in ("registered", "broker", "files", "verified"))


def test_given_the_cli_when_a_button_is_provisioned_then_the_password_is_shown_once_and_stored_nowhere_in_clear(
        tmp_path, board, broker, fleet_server):
    data = tmp_path / "technician"
    result = CliRunner().invoke(device_app, [
        "provision", "--port", board.port, "--kind", "button", "--board", "sim", "--site", "Taman Lansia", "--lat", "-6.9021",
        "--lon", "107.6224", "--id", "btn-cli-01", "--server", fleet_server.base_url, "--token", fleet_server.tech_token,
        "--broker-dir", str(broker.workdir), "--database-url", fleet_server.database_url, "--data-dir", str(data),
        "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), "--mqtt-user", OBSERVER_USER,
        "--mqtt-password", OBSERVER_PASS, "--online-timeout", str(ONLINE_TIMEOUT_S)])
    assert result.exit_code == 0, result.output
    config = json.loads((board.flash / "config.json").read_text())
    password = config["password"]
    # The CLI's default: the broker's TLS listener and its CA, read from the broker's directory.
    assert (config["port"], config["tls"]) == (broker.tls.port, True)
    assert (board.flash / config["ca_file"]).read_bytes() == broker.tls.ca.read_bytes()
    assert result.output.count(password) == 1
    assert "done" in result.output and "check code" in result.output
    assert (board.flash / "firmware/ports/sim.py").is_file() and not (board.flash / "firmware/ports/esp32.py").exists()
    # Nowhere else on the technician's or the server's side: journal, label dir, server log, database.
    for path in [*data.rglob("*"), fleet_server.log, *fleet_server.workdir.rglob("siaga.db*")]:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert verify_password(password, stored_hash(fleet_server, "btn-cli-01"))


def test_given_a_registered_id_when_provisioned_again_without_replace_then_it_is_refused_and_the_first_keeps_working(
        tmp_path, provisioning, board, broker, fleet_server):
    first = provisioning.provision(DeviceSpec(device_id="btn-dup-01", **TAMAN_LANSIA), board.port)
    second_board = UsbDevice(tmp_path / "board2").start()
    try:
        with pytest.raises(ProvisioningError) as refused:
            provisioning.provision(DeviceSpec(device_id="btn-dup-01", **TAMAN_LANSIA), second_board.port)
        assert "already registered" in refused.value.reason and "--replace" in refused.value.hint
        assert not (second_board.flash / "config.json").exists()
        assert broker_login(broker.host, broker.port, "btn-dup-01", first.password) == "Success"
        assert fleet_server.api("GET", "/devices/btn-dup-01").json()["status"] == "online"

        # With --replace the id moves to the new board; the old board's credential stops working.
        board.stop()
        again = provisioning.provision(DeviceSpec(device_id="btn-dup-01", **TAMAN_LANSIA), second_board.port,
                                       replace=True)
        assert again.password != first.password
        assert broker_login(broker.host, broker.port, "btn-dup-01", first.password) == "Not authorized"
        assert broker_login(broker.host, broker.port, "btn-dup-01", again.password) == "Success"
        assert fleet_server.api("GET", "/devices/btn-dup-01").json()["status"] == "online"
    finally:
        second_board.stop()


def test_given_a_provisioned_button_when_its_credentials_are_rotated_then_it_reconnects_and_the_old_secret_is_refused(
        provisioning, board, broker, fleet_server):
    first = provisioning.provision(DeviceSpec(device_id="btn-rot-01", **TAMAN_LANSIA), board.port)
    password, birth, health = provisioning.rotate("btn-rot-01", board.port)
    assert password != first.password and birth["boot"] > first.birth["boot"]
    assert json.loads((board.flash / "config.json").read_text())["password"] == password
    assert broker_login(broker.host, broker.port, "btn-rot-01", first.password) == "Not authorized"
    assert verify_password(password, stored_hash(fleet_server, "btn-rot-01"))


def test_given_a_tracker_when_provisioned_for_its_unit_then_it_boots_the_tracker_firmware_comes_online_and_is_bound(
        provisioning, board, fleet_server):
    r = fleet_server.api("POST", "/units", token=fleet_server.tech_token,
                         json={"id": "AMB-03", "callsign": "AMB-03", "agency": "medical", "type": "ambulance",
                               "home_station": "RSUD Kota Bandung", "home_lat": -6913000, "home_lon": 107700000})
    assert r.status_code == 201, r.text
    done = provisioning.provision(DeviceSpec(kind="tracker", unit="AMB-03", device_id="trk-amb-03",
                                             category="medical"), board.port)
    assert done.birth["kind"] == "tracker" and done.site == "AMB-03"
    assert (board.flash / "firmware/app/tracker.py").is_file()
    view = fleet_server.api("GET", "/devices/trk-amb-03").json()
    assert view["kind"] == "tracker" and view["status"] == "online" and view["site"] == "AMB-03"
    # Bound: the tracker's positions now move the unit, which kept its registration.
    unit = fleet_server.api("GET", "/units/AMB-03").json()
    assert unit["device_id"] == "trk-amb-03"
    assert (unit["home_station"], unit["home_lat"], unit["home_lon"]) == ("RSUD Kota Bandung", -6913000, 107700000)
    # The technician checks the binding with the status command.
    api = ["--server", fleet_server.base_url, "--token", fleet_server.tech_token,
           "--data-dir", str(provisioning.site.data_dir)]
    shown = CliRunner().invoke(device_app, ["status", "trk-amb-03", *api])
    assert shown.exit_code == 0 and "tracks unit AMB-03" in shown.output, shown.output
    r = fleet_server.api("POST", "/units", token=fleet_server.tech_token, json={**{k: unit[k] for k in (
        "id", "callsign", "agency", "type", "home_station", "home_lat", "home_lon")}, "device_id": None})
    assert r.status_code == 201, r.text
    shown = CliRunner().invoke(device_app, ["status", "trk-amb-03", *api])
    assert "bound to no unit" in " ".join(shown.output.split()), shown.output


def test_given_a_provisioned_button_then_list_and_status_show_it_and_decommission_revokes_it_from_the_cli(
        provisioning, board, broker, fleet_server):
    done = provisioning.provision(DeviceSpec(device_id="btn-cli-02", **TAMAN_LANSIA), board.port)
    data = str(provisioning.site.data_dir)
    api = ["--server", fleet_server.base_url, "--token", fleet_server.tech_token, "--data-dir", data]
    runner = CliRunner()

    listed = runner.invoke(device_app, ["list", "--kind", "button", *api])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "btn-cli-02" in line)
    assert "online" in row and "done" in row

    shown = runner.invoke(device_app, ["status", "btn-cli-02", *api])
    assert shown.exit_code == 0 and "online" in shown.output and "verified" in shown.output

    gone = runner.invoke(device_app, ["decommission", "btn-cli-02", "--yes", *api, "--broker-dir",
                                      str(broker.workdir), "--database-url", fleet_server.database_url])
    assert gone.exit_code == 0, gone.output
    assert broker_login(broker.host, broker.port, "btn-cli-02", done.password) == "Not authorized"
    shown = runner.invoke(device_app, ["status", "btn-cli-02", *api])
    assert "inactive" in shown.output and "credentials no" in shown.output

    missing = runner.invoke(device_app, ["status", "btn-never", *api])
    assert missing.exit_code == 1 and "no device btn-never" in missing.output


def test_given_the_centers_release_key_when_a_button_is_provisioned_then_it_verifies_and_takes_a_signed_release(
        provisioning, board, fleet_server, tmp_path):
    import time

    from fleet_server.releases import bundle, keys

    key_dir = tmp_path / "release-keys"
    keys.create(key_dir)
    provisioning.site.release_pub = key_dir / keys.PUBLIC
    provisioning.provision(DeviceSpec(device_id="btn-tl-ota", board="sim", **TAMAN_LANSIA), board.port)

    # The key the device trusts is on its flash, and the registry knows its board.
    assert (board.flash / "release.pub").read_text() == keys.load_public(key_dir).hex() + "\n"
    view = fleet_server.api("GET", "/devices/btn-tl-ota").json()
    assert view["board"] == "sim"

    # A release signed with that key, rolled out to the board: the device checks the signature
    # before it downloads a file, switches, and its trial boot is confirmed by the server.
    bundle.build("1.2.0", "button", ["sim"], "1.0.0", key_dir, fleet_server.workdir / "releases",
                 created=1_796_000_000)
    r = fleet_server.api("POST", "/campaigns", json={"version": "1.2.0", "steps": [100], "board": "sim",
                                                     "devices": ["btn-tl-ota"], "trial_s": 60, "gate_s": 120})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline and state not in ("confirmed", "rolled_back", "refused"):
        state = fleet_server.api("GET", f"/campaigns/{cid}").json()["devices"][0]["state"]
        time.sleep(0.5)
    assert state == "confirmed", (state, board.console()[-3000:])
    assert "ota_manifest" in board.console()
