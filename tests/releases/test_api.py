"""Releases over the real HTTP API of the whole server: technicians list and inspect them (the
inspection re-runs the device's checks on the stored bundle), withdraw one with a reason that is
audited and kept; lesser roles are refused; a bundle altered on disk shows why it would be refused."""
from __future__ import annotations

import json

import pytest

from fleet_server.releases import bundle, keys
from fleet_server.releases.store import WITHDRAWN, releases_dir
from tests.conftest import start_broker
from tests.support.server import FleetServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("broker"))
    srv = FleetServer(tmp_path_factory.mktemp("srv"), broker, env={"SIAGA_RUN_INGEST": "false"})
    try:
        key_dir = keys.default_dir(srv.workdir)
        keys.create(key_dir)
        for version, board in (("1.0.0", "sim"), ("1.1.0", "esp32_button"), ("1.10.0", "esp32_button")):
            bundle.build(version, "button", [board], "0.0.0", key_dir, releases_dir(srv.workdir))
        srv.start()
        for user, role in (("tek-budi", "technician"), ("disp-sari", "dispatcher")):
            assert srv.api("POST", "/users", json={"username": user, "password": "password-123",
                                                   "role": role}).status_code == 201
        srv.tech = srv.login("tek-budi", "password-123")
        srv.dispatcher = srv.login("disp-sari", "password-123")
        yield srv
    finally:
        srv.stop()
        broker.stop()


def test_given_releases_then_a_technician_lists_them_newest_first(server):
    r = server.api("GET", "/releases", token=server.tech)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [x["version"] for x in rows] == ["1.10.0", "1.1.0", "1.0.0"]
    assert rows[0]["boards"] == ["esp32_button"] and rows[0]["withdrawn"] is None
    assert rows[0]["files"] > 20 and rows[0]["bytes"] > 10_000


def test_given_a_release_then_inspecting_shows_its_manifest_and_that_it_verifies(server):
    r = server.api("GET", "/releases/1.0.0", token=server.tech)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["verified"] is True and d["check"] is None
    assert d["manifest"]["version"] == "1.0.0" and d["manifest"]["boards"] == ["sim"]
    assert d["manifest"]["key"] == keys.fingerprint(keys.load_public(keys.default_dir(server.workdir)))
    assert len(bytes.fromhex(d["signature"])) == 64


def test_given_a_file_altered_on_the_server_then_inspecting_says_which(server):
    root = releases_dir(server.workdir) / "1.1.0"
    victim = root / bundle.FILES / "firmware" / "app" / "outbox.mpy"
    data = bytearray(victim.read_bytes())
    data[10] ^= 0xFF
    victim.write_bytes(bytes(data))
    d = server.api("GET", "/releases/1.1.0", token=server.tech).json()
    assert d["verified"] is False and d["check"] == "hash_mismatch firmware/app/outbox.mpy"


def test_given_a_withdrawal_then_it_is_kept_audited_and_a_second_one_changes_nothing(server):
    r = server.api("POST", "/releases/1.10.0/withdraw", token=server.tech,
                   json={"reason": "tombol tidak menyala setelah update di Dago"})
    assert r.status_code == 200, r.text
    first = r.json()["withdrawn"]
    assert first["by"] == "tek-budi" and first["reason"].startswith("tombol tidak menyala")
    again = server.api("POST", "/releases/1.10.0/withdraw", token=server.token, json={"reason": "lagi"})
    assert again.status_code == 200 and again.json()["withdrawn"] == first
    rows = {x["version"]: x for x in server.api("GET", "/releases", token=server.tech).json()}
    assert rows["1.10.0"]["withdrawn"] == first and rows["1.1.0"]["withdrawn"] is None
    audit = server.api("GET", "/audit", params={"limit": 500}).json()
    mine = [a for a in audit if a["entity"] == "release"]
    assert [(a["actor"], a["action"], a["entity_id"]) for a in mine] == [("tek-budi", "withdraw", "1.10.0")]
    on_disk = json.loads((releases_dir(server.workdir) / "1.10.0" / WITHDRAWN).read_text())
    assert on_disk == first
    # The signed bundle itself is untouched: withdrawing is not altering.
    assert server.api("GET", "/releases/1.10.0", token=server.tech).json()["verified"] is True


def test_given_a_withdrawal_without_a_reason_then_it_is_refused(server):
    r = server.api("POST", "/releases/1.0.0/withdraw", token=server.tech, json={"reason": ""})
    assert r.status_code == 422
    assert server.api("GET", "/releases/1.0.0", token=server.tech).json()["withdrawn"] is None


@pytest.mark.parametrize("version", ["9.9.9", "latest", "...", "1.0", "1.0.0.0"])
def test_given_an_unknown_version_then_404_with_the_reason(server, version):
    r = server.api("GET", f"/releases/{version}", token=server.tech)
    assert r.status_code == 404, (version, r.status_code)
    assert r.json()["code"] == "not_found"
    assert "not found" in r.json()["reason"] or "not a release version" in r.json()["reason"]


def test_given_a_dispatcher_then_releases_are_not_theirs(server):
    assert server.api("GET", "/releases", token=server.dispatcher).status_code == 403
    r = server.api("POST", "/releases/1.0.0/withdraw", token=server.dispatcher, json={"reason": "coba"})
    assert r.status_code == 403 and "technician" in r.json()["reason"]
