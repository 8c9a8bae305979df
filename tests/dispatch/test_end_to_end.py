"""Units and dispatch end to end, every part real: the panic-button firmware and two tracker firmwares under
the MicroPython binary (GPS on ptys), Mosquitto, and the whole fleet server as a process (units,
dispatch and the incident bridge wired in its lifespan).

A citizen presses the button -> one incident -> the recommendation picks the nearest available
ambulance, never the nearer one that is out of service -> the order reaches that tracker -> the
crew accepts -> the simulated drive -> on scene is set by arrival -> the button shows "unit near"."""
from __future__ import annotations

import pytest

from simulators.devices.firmware_button import FirmwareButton
from simulators.gps import RouteSource
from simulators.gps.firmware_tracker import FirmwareTracker
from tests.dispatch.scripted import wait_until
from tests.support.center import Center

GEDUNG_SATE = (-6902474, 107618770)
M = 9  # microdegrees of latitude in a metre, about
FAST = dict(backoff_min_ms=100, backoff_max_ms=1000, keepalive_s=5, connect_timeout_ms=2000, report_s=1, parked_s=20)


def north(metres: int) -> tuple[int, int]:
    return (GEDUNG_SATE[0] + metres * M, GEDUNG_SATE[1])


@pytest.fixture
def devices():
    started = []
    try:
        yield started
    finally:
        for d in started:
            d.stop()


def unit(center: Center, uid: str, dev: str) -> None:
    center.register(dev, "pw-" + dev, kind="tracker", category="medical")
    r = center.server.api("POST", "/units", json={"id": uid, "callsign": uid.replace("-", " "), "agency": "medical",
                                                  "type": "ambulance", "device_id": dev})
    assert r.status_code == 201, r.text


def test_press_to_nearest_ambulance_on_scene_and_the_button_shows_unit_near(center, broker, devices, tmp_path):
    api = center.server.api
    unit(center, "AMB-01", "trk-amb-01")
    unit(center, "AMB-00", "trk-amb-00")
    center.register("btn-sate-01", "pw-btn-sate-01", site="Gedung Sate", lat_udeg=GEDUNG_SATE[0],
                    lon_udeg=GEDUNG_SATE[1], category="medical")
    start = north(600)
    amb1 = FirmwareTracker(tmp_path / "amb1", "trk-amb-01", "pw-trk-amb-01", broker.host, broker.port, **FAST)
    amb0 = FirmwareTracker(tmp_path / "amb0", "trk-amb-00", "pw-trk-amb-00", broker.host, broker.port, **FAST)
    for trk, where in ((amb1, start), (amb0, north(200))):
        trk.set_gps_source(RouteSource([where], 10, park_s=None), speed=1)
        devices.append(trk)
        trk.start()
    btn = FirmwareButton(tmp_path / "btn", "btn-sate-01", "pw-btn-sate-01", broker.host, broker.port,
                         category="medical", site="Gedung Sate", lat=GEDUNG_SATE[0], lon=GEDUNG_SATE[1],
                         hold_ms=300, heartbeat_s=30, resend_s=2)
    devices.append(btn)
    btn.start()
    # AMB-00 is three times nearer, but its crew pressed "out of service".
    amb0.crew("oos")

    def both_placed():
        us = {u["id"]: u for u in api("GET", "/units").json()}
        return (us["AMB-01"]["position"] and not us["AMB-01"]["stale"] and us["AMB-00"]["position"]
                and us["AMB-00"]["status"] == "oos") and us
    assert wait_until(both_placed, timeout=20), api("GET", "/units").text

    assert btn.wait_feedback("idle", timeout=15), btn.output()[-2000:]
    btn.press()
    assert btn.wait_feedback("received", timeout=15), btn.output()[-2000:]
    (inc,) = wait_until(lambda: center.incidents(), timeout=10)

    rec = wait_until(lambda: (r := api("GET", f"/dispatch/incidents/{inc['id']}/recommendations")).status_code == 200
                     and r.json(), timeout=10)
    assert rec and [p["unit"] for p in rec["picks"]] == ["AMB-01"], rec
    assert {e["unit"]: e["code"] for e in rec["excluded"]} == {"AMB-00": "out_of_service"}

    order = api("POST", "/dispatch/assignments", json={"incident": inc["id"], "unit": "AMB-01", "note": "Gedung Sate"})
    assert order.status_code == 201, order.text
    assert amb1.wait_orders(1, 10) == [order.json()["id"]], amb1.output()[-2000:]
    assert btn.wait_feedback("dispatched", timeout=10)
    amb1.accept()
    assert wait_until(lambda: center.incident(inc["id"])["state"] == "enroute", timeout=10)
    assert api("GET", "/units/AMB-01").json()["status"] == "enroute"

    # The drive: 600 m at 20 m/s, replayed twice as fast (40 m/s on the wire: plausible for the filter).
    amb1.set_gps_source(RouteSource([start, GEDUNG_SATE], 20, park_s=None), speed=2)
    assert wait_until(lambda: center.incident(inc["id"])["state"] == "onscene", timeout=40), \
        (api("GET", "/units/AMB-01").json(), api("GET", "/units-stats").json())
    assert btn.wait_feedback("near", timeout=10), btn.output()[-2000:]
    assert api("GET", "/units/AMB-01").json()["status"] == "onscene"
    detail = center.incident(inc["id"])
    clocks = detail["clocks"]
    assert clocks["dispatched_at"] <= clocks["enroute_at"] <= clocks["onscene_at"]
    [a] = api("GET", "/dispatch/assignments", params={"incident": inc["id"]}).json()
    assert [h["state"] for h in a["history"]] == ["ordered", "accepted", "onscene"]
    track = api("GET", "/units/AMB-01/history").json()
    assert track["geometry"]["type"] == "LineString" and track["properties"]["count"] >= 3
