"""No SOS is lost: broker outages, power cuts and restarts between the press and the ack."""
import time

from tests.firmware.conftest import DEV


def test_given_the_broker_is_down_for_30s_when_pressed_then_delivered_after_and_led_goes_no_connection_to_received(
        broker, center, make_button):
    btn = make_button(resend_s=2).start()
    assert btn.wait_feedback("idle", 5)
    broker.stop()
    assert btn.wait_feedback("no_connection", 5)
    btn.press()
    time.sleep(0.3)
    assert btn.feedback() == "no_connection"
    pending = btn.outbox()
    assert len(pending) == 1, "on flash before any send"
    time.sleep(30)  # an outage of half a minute: a citizen waiting
    assert btn.feedback() == "no_connection" and btn.outbox() == pending
    broker.start()
    [a] = center.wait_uplinks("alarm", 1, timeout=10)
    assert (a["boot"], a["seq"]) == pending[0]
    center.ack(a)
    assert btn.wait_feedback("received", 5)
    shown = btn.shown()
    assert shown.index("no_connection") < shown.index("received"), shown
    assert btn.outbox() == []


def test_given_power_is_cut_after_the_press_before_the_ack_then_the_same_boot_seq_is_resent_and_the_next_alarm_is_new(
        center, make_button):
    btn = make_button(resend_s=30).start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    [first] = center.wait_uplinks("alarm", 1, timeout=5)
    btn.kill()
    assert btn.outbox() == [(first["boot"], first["seq"])]
    btn.start()
    both = center.wait_uplinks("alarm", 2, timeout=10)
    assert len(both) == 2, "resent by the restarted firmware (resend_s is 30 s: only a reboot explains it)"
    assert both[1] == first, "the record itself, byte for byte the same (boot, seq, ts, presses)"
    center.ack(both[1])
    assert btn.wait_feedback("received", 5), "an alarm from before the power cut is still shown as received"
    assert btn.outbox() == []
    btn.press()
    nxt = center.wait_uplinks("alarm", 1, timeout=5, where=lambda a: (a["boot"], a["seq"]) != (first["boot"], first["seq"]))
    assert nxt, center.alarms()
    assert nxt[0]["boot"] == first["boot"] + 1 and nxt[0]["seq"] > first["seq"], "never reused, not even the seq"


def test_given_100_alarms_through_5_broker_restarts_then_the_server_sees_and_acks_every_boot_seq(broker, center, make_button):
    center.auto_ack = True
    btn = make_button(hold_ms=30, debounce_ms=5, active_s=0, resend_s=1, publish_burst=20).start()
    assert btn.wait_feedback("idle", 5)
    restarts = 0
    for i in range(100):
        if i % 20 == 10:
            broker.stop()
            restarts += 1
        btn.press(hold_ms=60)
        if i % 20 == 14:
            broker.start()
    assert restarts == 5
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (btn.outbox() or len({(a["boot"], a["seq"]) for a in center.alarms()}) < 100):
        time.sleep(0.2)
    seen = {(a["boot"], a["seq"]) for a in center.alarms(DEV)}
    assert len(seen) == 100, f"server saw {len(seen)} distinct alarms; firmware log tail:\n{btn.output()[-1500:]}"
    assert btn.outbox() == [], "every one acked"
    assert seen <= {(b, s) for _d, b, s in center.acked}
    assert btn.running and btn.state()["stats"]["acks"] == 100


def test_given_power_cut_mid_write_leaves_half_written_tmp_files_then_the_reboot_resends_the_intact_record(
        center, make_button):
    btn = make_button(resend_s=30).start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    [first] = center.wait_uplinks("alarm", 1, timeout=5)
    btn.kill()
    [(boot, seq)] = btn.outbox()
    record = btn.flash / "outbox" / f"{boot}-{seq}"
    (record.parent / (record.name + ".tmp")).write_bytes(record.read_bytes()[:40])
    (btn.flash / "counters.json.tmp").write_bytes(b'{"boot": 1, "se')
    btn.start()
    both = center.wait_uplinks("alarm", 2, timeout=10)
    assert len(both) == 2 and both[1] == first
    assert "flash_cut_write" in btn.output()
    assert not list(btn.flash.rglob("*.tmp"))


def test_given_a_broker_that_stops_answering_without_closing_then_the_dead_link_is_noticed_and_reconnected(
        broker, center, make_button):
    import os
    import signal
    btn = make_button(keepalive_s=2).start()
    assert btn.wait_feedback("idle", 5)
    os.kill(broker.proc.pid, signal.SIGSTOP)   # TCP stays open, nothing answers: a hung broker or a dead NAT path
    try:
        t0 = time.monotonic()
        assert btn.wait_feedback("no_connection", 8), btn.output()[-1000:]
        assert time.monotonic() - t0 >= 2.0, "not before a missed ping could tell"
        assert "no traffic from the broker" in btn.output() or "timed out" in btn.output()
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    assert btn.wait_feedback("idle", 10), "back once the broker answers again"
