"""A citizen presses the real panic-button firmware; the real fleet server makes one incident, with
its clocks, and the button's LED follows the incident: received, dispatched, closed."""
import time

from simulators.devices.firmware_button import FirmwareButton
from tests.support.center import Center

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


def test_a_device_registered_a_moment_ago_is_heard_at_once_and_a_deactivated_one_is_not(center, broker):
    """Identity: the ingest accepts exactly the registered, active devices, and learns of a new
    registration or a deactivation at once, not at its next cache refresh."""
    from protocols import codec_json, topics
    from tests.support.mqtt import Recorder

    sent = []
    for i in range(2):
        # Warm the ingest's cache with a known device so a stale cache would be trusted.
        dev = f"btn-new-{i}"
        center.register(dev, f"pw-{i}", category="police", lat_udeg=-6921000, lon_udeg=107607000)
        c = Recorder(broker.host, broker.port, dev, f"pw-{i}", topics=(topics.subscription_down(dev),))
        alarm = {"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": 1, "ts": int(time.time()), "cat": "police",
                 "trig": "button", "presses": 1, "lat": -6921000, "lon": 107607000, "src": "fixed", "acc": 5,
                 "age": None}
        c.publish(topics.up(dev, "alarm"), codec_json.encode(alarm))
        acks = c.wait_for(lambda m: m.topic.endswith("/down/ack"), timeout=5)
        sent.append((dev, c, acks))
    for dev, c, acks in sent:
        assert len(acks) == 1, f"{dev}: its first alarm must be acked without a resend"
    dev, c, _ = sent[0]
    r = center.server.api("PATCH", f"/devices/{dev}", json={"active": False})
    assert r.status_code == 200, r.text
    alarm = {"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": 2, "ts": int(time.time()), "cat": "police",
             "trig": "button", "presses": 1, "lat": -6921000, "lon": 107607000, "src": "fixed", "acc": 5, "age": None}
    c.publish(topics.up(dev, "alarm"), codec_json.encode(alarm))
    time.sleep(2)
    assert len(c.matching(lambda m: m.topic.endswith("/down/ack"))) == 1, "a deactivated device is not heard"
    metrics = __import__("httpx").get(center.server.base_url + "/metrics").text
    assert "unknown_device" in metrics
    for _, c, _ in sent:
        c.close()
