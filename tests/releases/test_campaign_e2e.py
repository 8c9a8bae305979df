"""Campaigns end to end: the real fleet server (its update link, campaign engine and API) on the
real broker, and real button firmware under the MicroPython binary. A good release goes to a
canary, passes the health gate, widens and completes; a release that crashes at boot is rolled back
by every canary on its own, the campaign halts with an alert and no other device is offered it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fleet_server.releases import bundle, keys
from simulators.devices.firmware_button import FirmwareButton
from tests.releases.craft import derive

VERSION = "1.2.0"
N = 4


def _wait(pred, timeout=60.0, step=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


@pytest.fixture
def fleet(center, broker, tmp_path):
    key_dir = tmp_path / "release-keys"
    keys.create(key_dir)
    releases = center.server.workdir / "releases"
    bundle.build(VERSION, "button", ["sim"], "1.0.0", key_dir, releases, created=1_796_000_000)
    pub = keys.load_public(key_dir).hex()
    buttons = []
    for i in range(N):
        dev = f"btn-ota-{i:02d}"
        center.register(dev, f"pw-{dev}", site=f"Pos {i}", lat_udeg=-6902000 - i * 1000, lon_udeg=107618000)
        b = FirmwareButton(tmp_path / dev, dev, f"pw-{dev}", broker.host, broker.port, hold_ms=300, heartbeat_s=2,
                           resend_s=2, selftest_ms=200, backoff_min_ms=100, backoff_max_ms=1000,
                           connect_timeout_ms=2000)
        (b.flash / "release.pub").write_text(pub + "\n")
        buttons.append(b)
    try:
        for b in buttons:
            b.start()
        for b in buttons:
            assert b.wait_feedback("idle", timeout=20), b.output()[-2000:]
        # The registry has heard each one's heartbeat (its firmware and empty outbox).
        assert _wait(lambda: all(d["health"]["firmware"] == "button-1.0.0" for d in devices(center)), 30), devices(center)
        yield center, buttons, key_dir, releases
    finally:
        for b in buttons:
            b.stop()


def devices(center):
    r = center.server.api("GET", "/devices", params={"kind": "button"})
    assert r.status_code == 200, r.text
    return [d for d in r.json() if d["id"].startswith("btn-ota-")]


def campaign(center, cid):
    r = center.server.api("GET", f"/campaigns/{cid}")
    assert r.status_code == 200, r.text
    return r.json()


def start(center, version, steps, **kw):
    r = center.server.api("POST", "/campaigns", json={"version": version, "steps": steps, **kw})
    assert r.status_code == 201, r.text
    return r.json()


def test_good_release_reaches_the_canary_passes_the_gate_and_completes(fleet):
    center, buttons, _, _ = fleet
    c = start(center, VERSION, [25, 100], trial_s=60, gate_s=120)
    assert c["state"] == "running" and c["wave"] == 0
    canary = [d["device"] for d in c["devices"] if d["wave"] == 0]
    assert len(canary) == 1 and all(d["state"] == "waiting" for d in c["devices"] if d["wave"] == 1)
    done = _wait(lambda: campaign(center, c["id"])["state"] != "running", 180)
    final = campaign(center, c["id"])
    assert done and final["state"] == "completed", (final, [b.output()[-1500:] for b in buttons])
    assert {d["state"] for d in final["devices"]} == {"confirmed"}
    assert _wait(lambda: all(d["health"]["firmware"] == "button-" + VERSION for d in devices(center)), 30)
    audit = center.server.api("GET", "/audit", params={"entity": "campaign", "entity_id": str(c["id"])})
    assert audit.status_code == 200, audit.text
    actions = [a["action"] for a in audit.json()]
    assert {"create", "widen", "complete"} <= set(actions), actions
    assert actions.count("ota_confirmed") == N and actions.count("ota_offered") == N, actions


def test_release_crashing_at_boot_is_rolled_back_by_the_canaries_and_halts_the_campaign(fleet):
    center, buttons, key_dir, releases = fleet
    feedback = (Path(__file__).resolve().parents[2] / "firmware/app/feedback.py").read_text()
    derive(releases / VERSION, "1.3.0", {"firmware/app/feedback.py": feedback + "\nraise RuntimeError('x')\n"},
           key_dir)
    from websockets.sync.client import connect
    srv = center.server
    with connect(srv.base_url.replace("http", "ws") + f"/api/v1/feed?token={srv.token}", open_timeout=5) as ws:
        c = start(center, "1.3.0", [50, 100], trial_s=60, gate_s=300)
        canary = {d["device"] for d in c["devices"] if d["wave"] == 0}
        others = {d["device"] for d in c["devices"]} - canary
        assert len(canary) == 2 and len(others) == 2
        alert = None
        deadline = time.monotonic() + 180
        while alert is None and time.monotonic() < deadline:
            ev = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if ev.get("type") == "ota.alert":
                alert = ev
    final = campaign(center, c["id"])
    assert alert and alert["campaign"] == c["id"] and alert["state"] == "halted", (final, alert)
    assert final["state"] == "halted" and "rolled_back" in final["halted_why"] and alert["why"] == final["halted_why"]
    # Every canary comes back to 1.0.0 on its own; no other device is offered 1.3.0.
    assert _wait(lambda: {d["device"] for d in campaign(center, c["id"])["devices"]
                          if d["state"] == "rolled_back"} == canary, 120), campaign(center, c["id"])
    states = {d["device"]: d["state"] for d in campaign(center, c["id"])["devices"]}
    assert all(states[d] == "waiting" for d in others), states
    by_id = {b.device_id: b for b in buttons}
    for d in others:
        assert "ota_offer" not in by_id[d].output()
    for d in canary:
        assert "import_failed" in by_id[d].output()
        assert by_id[d].wait_feedback("idle", timeout=20)
    assert _wait(lambda: all(d["health"]["firmware"] == "button-1.0.0" for d in devices(center)), 30)
    assert "firmware campaign halted" in center.server.log.read_text()
