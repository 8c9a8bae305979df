"""The panic button on the wire: the real firmware under MicroPython, a real Mosquitto, and the test
playing the fleet server (acks with codec_json, as the server does)."""
import json
import time

from protocols.messages import TS_MIN
from tests.firmware.conftest import DEV

SITE = {"lat": -6902000, "lon": 107622000}


def test_given_a_button_when_held_past_hold_ms_then_exactly_one_alarm_with_the_site_fields(center, make_button):
    btn = make_button(category="medical").start()
    assert btn.wait_feedback("idle", 5), btn.output()
    btn.press()
    alarms = center.wait_uplinks("alarm", 1, timeout=5)
    time.sleep(0.5)  # room for a wrong second alarm to show up
    alarms = center.alarms()
    assert len(alarms) == 1, alarms
    a = alarms[0]
    assert (a["dev"], a["cat"], a["trig"], a["presses"], a["src"]) == (DEV, "medical", "button", 1, "fixed")
    assert (a["lat"], a["lon"], a["acc"], a["age"]) == (SITE["lat"], SITE["lon"], 10, None)
    assert a["boot"] >= 1 and a["seq"] >= 1 and a["ts"] >= TS_MIN
    assert btn.outbox() == [(a["boot"], a["seq"])], "kept on flash until the server acks"
    assert btn.feedback() == "waiting"


def test_given_a_button_when_pressed_shorter_than_hold_ms_then_no_alarm(center, make_button):
    btn = make_button(hold_ms=600).start()
    assert btn.wait_feedback("idle", 5)
    btn.press(hold_ms=150)
    btn.press(hold_ms=250)
    assert center.wait_uplinks("alarm", 1, timeout=1.5) == []
    assert btn.outbox() == [] and btn.feedback() == "idle"
    assert "press_too_short" in btn.output()


def test_given_an_alarm_when_the_server_acks_it_then_outbox_is_empty_and_led_shows_received(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    center.ack(a)
    assert btn.wait_feedback("received", 5)
    assert btn.outbox() == []
    shown = btn.shown()
    assert shown[-2:] == ["waiting", "received"], shown


def test_given_an_unacked_alarm_then_it_is_resent_until_acked_and_a_puback_does_not_clear_it(center, make_button):
    btn = make_button(resend_s=1).start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    sent = center.wait_uplinks("alarm", 3, timeout=6)
    assert len(sent) >= 3 and len({(a["boot"], a["seq"]) for a in sent}) == 1, sent
    center.ack(sent[0])
    assert btn.wait_feedback("received", 5)
    n = len(center.alarms())
    time.sleep(2.5)
    assert len(center.alarms()) <= n + 1, "resending stops once the ack arrived (one may be in flight)"


def test_given_an_ack_for_an_unknown_seq_or_another_device_then_nothing_changes(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    center.ack({**a, "seq": a["seq"] + 100})
    center.ack({**a, "boot": a["boot"] + 1})
    center.raw(f"siaga/v1/dev/{DEV}/down/ack", b'{"v":1,"t":"ack","dev":"someone-else","boot":1,"seq":1}')
    center.raw(f"siaga/v1/dev/{DEV}/down/ack", b"\xff\xfe not json")
    time.sleep(1.0)
    assert btn.outbox() == [(a["boot"], a["seq"])]
    assert btn.feedback() == "waiting"
    out = btn.output()
    assert "ack_unknown" in out and "ack_rejected" in out


def test_given_an_active_alarm_when_pressed_again_then_presses_fold_into_it(center, make_button):
    btn = make_button(resend_s=1).start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    btn.press()
    btn.press()
    folded = center.wait_uplinks("alarm", 1, timeout=5, where=lambda a: a["presses"] == 3)
    assert folded, center.alarms()
    assert len({(a["boot"], a["seq"]) for a in center.alarms()}) == 1, "one alarm, not three"
    center.ack(folded[0])
    assert btn.wait_feedback("received", 5)
    btn.press()  # after the ack, within active_s: still the same emergency
    time.sleep(1.0)
    assert len({(a["boot"], a["seq"]) for a in center.alarms()}) == 1


def test_given_a_multi_key_panel_then_each_key_raises_its_own_category(center, make_button):
    keys = {"police": "police", "fire": "fire", "medical": "medical"}
    btn = make_button(keys=keys).start()
    assert btn.wait_feedback("idle", 5)
    btn.press(key="fire")
    btn.press(key="police")
    alarms = center.wait_uplinks("alarm", 2, timeout=5)
    assert sorted(a["cat"] for a in alarms) == ["fire", "police"]


def test_given_a_stuck_key_then_one_alarm_and_the_health_flag_not_a_flood(center, make_button):
    btn = make_button(stuck_s=2, resend_s=30).start()
    assert btn.wait_feedback("idle", 5)
    btn.hold()
    try:
        first = center.wait_uplinks("alarm", 1, timeout=6)
        assert [a["trig"] for a in first] == ["button"]
        flagged = center.wait_uplinks("health", 1, timeout=6, where=lambda h: h["stuck"] is True)
        assert flagged
        time.sleep(4.5)  # more than two further stuck periods: still one alarm, no flood
        alarms = center.alarms()
        assert [a["trig"] for a in alarms] == ["button"], alarms
    finally:
        btn.release()
    assert center.wait_uplinks("health", 1, timeout=3, where=lambda h: h["stuck"] is False and h["seq"] > flagged[0]["seq"])


def test_given_the_enclosure_is_opened_then_a_tamper_alarm_and_the_health_flag(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    btn.tamper(True)
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    assert (a["trig"], a["cat"]) == ("tamper", "police")
    assert center.wait_uplinks("health", 1, timeout=3, where=lambda h: h["tamper"] is True)


def test_given_a_connected_button_then_retained_birth_heartbeats_and_a_retained_will_after_power_cut(center, make_button, broker):
    btn = make_button(heartbeat_s=1, keepalive_s=2).start()
    online = center.wait_uplinks("status", 1, timeout=5)
    assert online[0]["state"] == "online" and online[0]["seq"] == 0 and online[0]["kind"] == "button"
    beats = center.wait_uplinks("health", 3, timeout=5)
    assert len(beats) >= 3 and [h["seq"] for h in beats] == sorted({h["seq"] for h in beats})
    assert beats[-1]["batt"] == 4000 and beats[-1]["fw"]
    btn.kill()
    offline = center.wait_uplinks("status", 1, timeout=8, where=lambda s: s["state"] == "offline")
    assert offline and offline[0]["boot"] == online[0]["boot"] and offline[0]["seq"] == 0
    # Retained: a server that starts later still learns the device is offline.
    from tests.conftest import OBSERVER_USER, OBSERVER_PASS
    from tests.support.mqtt import Recorder
    late = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS, topics=(f"siaga/v1/dev/{DEV}/up/status",))
    try:
        got = late.wait_for(lambda m: m.retain, timeout=3)
        assert got and json.loads(got[0].payload)["state"] == "offline"
    finally:
        late.close()


def test_given_the_server_restarts_with_a_new_epoch_then_the_button_announces_itself_again(center, make_button):
    center.server_online("epoch-1")
    btn = make_button().start()
    assert center.wait_uplinks("status", 1, timeout=5)
    time.sleep(0.5)
    assert len(center.uplinks("status")) == 1, "the retained epoch it already knew is no restart"
    center.server_online("epoch-2")
    again = center.wait_uplinks("status", 2, timeout=5)
    assert len(again) == 2 and again[1]["state"] == "online"
    assert "server_restarted" in btn.output()


def test_given_a_bad_or_missing_config_then_config_error_pattern_a_clear_log_and_no_crash_loop(broker, make_button):
    bad = make_button("bad", config_text='{"dev": "btn-1", "host": "127.0.0.1"').start()
    assert bad.wait_feedback("config_error", 5)
    assert "config.json is not valid JSON" in bad.output()
    incomplete = make_button("incomplete", config_text=json.dumps({"dev": "btn-1", "host": "127.0.0.1", "lat": 1, "lon": 2}))
    incomplete.start()
    assert incomplete.wait_feedback("config_error", 5)
    assert "config.json lacks password" in incomplete.output()
    typo = make_button("typo", holdms=500)
    typo.start()
    assert typo.wait_feedback("config_error", 5)
    assert "unknown setting holdms" in typo.output()
    feeds = bad.state()["feeds"]
    time.sleep(0.5)
    assert bad.running and bad.state()["feeds"] > feeds, "the loop keeps running (watchdog fed)"
    assert bad.output().count("config_bad") == 1, "one clear line, not a crash loop"
