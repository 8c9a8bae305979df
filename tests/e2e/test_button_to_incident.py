"""A citizen presses the real panic-button firmware; the real fleet server makes one incident, with
its clocks, and the button's LED follows the incident: received, dispatched, closed."""
import time

from simulators.devices.firmware_button import FirmwareButton
from tests.e2e.conftest import Center

GEDUNG_SATE = (-6902474, 107618770)


def _wait(pred, timeout=15.0, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


def test_press_becomes_one_incident_with_clocks_and_the_led_follows_it(center, broker, tmp_path):
    center.register("btn-sate-01", "pw-sate-01", site="Gedung Sate", lat_udeg=GEDUNG_SATE[0],
                    lon_udeg=GEDUNG_SATE[1], category="medical")
    btn = FirmwareButton(tmp_path / "btn", "btn-sate-01", "pw-sate-01", broker.host, broker.port,
                         category="medical", site="Gedung Sate", lat=GEDUNG_SATE[0], lon=GEDUNG_SATE[1],
                         hold_ms=300, heartbeat_s=30, resend_s=2)
    btn.start()
    try:
        assert btn.wait_feedback("idle", timeout=15), btn.output()[-2000:]
        btn.press()
        assert btn.wait_feedback("received", timeout=15), btn.output()[-2000:]
        (inc,) = _wait(lambda: center.incidents())
        detail = center.incident(inc["id"])
        assert detail["category"] == "medical" and detail["state"] == "new"
        assert detail["origin_device_id"] == "btn-sate-01" and len(detail["alarms"]) == 1
        assert detail["station"]["id"] not in (None, "112"), "Gedung Sate lies inside a station area"
        clocks = detail["clocks"]
        assert clocks["pressed_at"] <= clocks["received_at"] <= time.time()
        assert detail["location"]["source"] == "fixed"

        center.transition(inc["id"], "acknowledged")
        center.transition(inc["id"], "dispatched")
        assert btn.wait_feedback("dispatched", timeout=10)
        for state in ("enroute", "onscene", "resolved"):
            center.transition(inc["id"], state)
        assert btn.wait_feedback("closed", timeout=10)
        final = center.incident(inc["id"])
        assert all(final["clocks"][c] for c in ("acknowledged_at", "dispatched_at", "closed_at"))
        assert len(center.incidents()) == 1
    finally:
        btn.stop()


def test_server_killed_between_commit_and_ack_loses_nothing_and_duplicates_nothing(broker, tmp_path):
    """The server commits the incident, then dies (SIGKILL) before it acks. The button keeps the alarm
    and resends it; the restarted server recognises (device, boot, seq), makes no second incident,
    and acks it."""
    c = Center(broker, tmp_path / "center", env={"SIAGA_FAULT_DELAY_ACK_S": "5"})
    c.server.start()
    btn = FirmwareButton(tmp_path / "btn", "btn-kill-01", "pw-kill-01", broker.host, broker.port,
                         category="fire", hold_ms=300, heartbeat_s=30, resend_s=1)
    try:
        c.register("btn-kill-01", "pw-kill-01", category="fire", lat_udeg=-6921000, lon_udeg=107607000)
        btn.start()
        assert btn.wait_feedback("idle", timeout=15), btn.output()[-2000:]
        btn.press()
        assert _wait(lambda: c.incidents(), timeout=10), "the incident is committed before the ack"
        c.server.kill()
        pending = btn.outbox()
        assert len(pending) == 1 and btn.feedback() == "waiting"
        c.server.env["SIAGA_FAULT_DELAY_ACK_S"] = "0"
        c.server.start()
        assert btn.wait_feedback("received", timeout=20), btn.output()[-2000:]
        assert btn.outbox() == []
        incs = c.incidents()
        assert len(incs) == 1
        detail = c.incident(incs[0]["id"])
        assert [(a["boot"], a["seq"]) for a in detail["alarms"]] == pending
    finally:
        btn.stop()
        c.server.stop()
