"""Commands from the fleet server drive what the citizen sees; bad ones are logged and ignored."""
import json
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from protocols import canonical, codec_json, topics
from tests.firmware.conftest import DEV
from tests.protocol.strategies import message


def _result(center, cmd_id, timeout=5):
    got = center.wait_uplinks("cmdres", 1, timeout=timeout, where=lambda r: r["id"] == cmd_id)
    return got[0] if got else None


def test_given_an_acked_alarm_when_the_server_sends_dispatched_near_closed_then_the_led_follows_and_each_is_answered(
        center, make_button):
    btn = make_button(closed_show_s=1).start()
    assert btn.wait_feedback("idle", 5)
    btn.press()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    center.ack(a, inc=42)
    assert btn.wait_feedback("received", 5)
    for n, state in enumerate(("dispatched", "near", "closed")):
        center.command(DEV, "feedback", f"fb-{n}", state=state, inc=42)
        assert btn.wait_feedback(state, 5), btn.shown()
        assert _result(center, f"fb-{n}")["res"] == "ok"
    assert btn.wait_feedback("idle", 5), "closed shows for closed_show_s, then the button is ready again"
    btn.press()
    assert len(center.wait_uplinks("alarm", 2, timeout=5)) == 2, "after closed, a press is a new emergency"


def test_given_an_expired_command_then_it_is_answered_expired_and_not_applied(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    now = int(time.time())
    center.raw(topics.down(DEV, "cmd"), codec_json.encode(
        {"v": 1, "t": "cmd", "dev": DEV, "id": "late-1", "ts": now - 120, "exp": now - 60, "op": "feedback",
         "state": "dispatched"}))
    assert _result(center, "late-1")["res"] == "expired"
    assert btn.feedback() == "idle"


def test_given_a_config_command_then_button_settings_apply_and_persist_and_foreign_keys_are_rejected(center, make_button):
    btn = make_button(heartbeat_s=60).start()
    assert center.wait_uplinks("health", 1, timeout=5)
    center.command(DEV, "config", "cfg-1", cfg={"heartbeat_s": 1})
    assert _result(center, "cfg-1")["res"] == "ok"
    assert len(center.wait_uplinks("health", 4, timeout=5)) >= 4, "heartbeat now every second"
    assert json.loads((btn.flash / "overrides.json").read_text()) == {"heartbeat_s": 1}
    center.command(DEV, "config", "cfg-2", cfg={"report_s": 5})
    r = _result(center, "cfg-2")
    assert r["res"] == "rejected" and "report_s" in r["why"]
    btn.restart()
    before = len(center.uplinks("health"))
    assert len(center.wait_uplinks("health", before + 3, timeout=5)) >= before + 3, "the override survives a reboot"


def test_given_a_reboot_command_then_it_is_accepted_and_the_button_comes_back_with_a_new_boot(center, make_button):
    btn = make_button().start()
    [birth] = center.wait_uplinks("status", 1, timeout=5)
    center.command(DEV, "reboot", "rb-1")
    assert _result(center, "rb-1")["res"] == "accepted"
    again = center.wait_uplinks("status", 2, timeout=5, where=lambda s: s["state"] == "online")
    assert len(again) == 2 and again[1]["boot"] == birth["boot"] + 1
    assert btn.running


def test_given_a_dispatch_order_then_a_button_rejects_it_with_a_reason(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    center.command(DEV, "dispatch", "d-1", inc=5, lat=1, lon=2, cat="fire")
    r = _result(center, "d-1")
    assert r["res"] == "rejected" and "dispatch" in r["why"]


def test_given_a_command_redelivered_with_the_same_id_then_it_is_answered_again_but_run_once(center, make_button):
    btn = make_button().start()
    assert btn.wait_feedback("idle", 5)
    center.command(DEV, "reboot", "once")
    assert _result(center, "once")["res"] == "accepted"
    assert center.wait_uplinks("status", 2, timeout=5, where=lambda s: s["state"] == "online")
    center.command(DEV, "feedback", "twice", state="near")
    center.command(DEV, "feedback", "twice", state="near")
    assert len(center.wait_uplinks("cmdres", 2, timeout=5, where=lambda r: r["id"] == "twice")) == 2
    assert btn.output().count("id=twice") == 1


def _wire(msg):
    return canonical.dump_value(msg).encode()


# Hostile downlink: raw bytes, JSON that is almost a command, valid commands for other devices,
# and valid commands for this device whose ops cannot change its timing (reboot/config are
# covered above; here they would only slow the run down).
HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(st.sampled_from(["v", "t", "dev", "id", "ts", "exp", "op", "state", "inc", "cfg", "boot", "seq"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.text(max_size=40),
                              st.lists(st.integers(), max_size=3)), max_size=12).map(_wire),
    message("cmd").map(lambda m: codec_json.encode(m)),
    message("cmd").filter(lambda m: m["op"] in ("feedback", "dispatch"))
                  .map(lambda m: codec_json.encode({**m, "dev": DEV})),
    message("ack").map(lambda m: codec_json.encode({**m, "dev": DEV})),
)


def test_given_fuzzed_commands_and_acks_then_the_main_loop_never_stops(center, make_button):
    btn = make_button(heartbeat_s=1).start()
    assert btn.wait_feedback("idle", 5)
    sent = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(kind=st.sampled_from(["cmd", "ack"]), payload=HOSTILE)
    def send(kind, payload):
        center.raw(topics.down(DEV, kind), payload)
        sent.append(payload)

    send()
    assert len(sent) >= 50
    assert btn.running, btn.output()[-2000:]
    out = btn.output()
    assert "handler_error" not in out and "step_failed" not in out, "every bad input got a reason, no handler broke"
    assert out.count("command_rejected") + out.count("ack_rejected") > 0
    last = max(h["seq"] for h in center.uplinks("health") if h["boot"] == center.uplinks("health")[-1]["boot"])
    later = center.wait_uplinks("health", 1, timeout=5, where=lambda h: h["seq"] > last)
    assert later, "heartbeats continue after the fuzzing"
    st_ = btn.state()
    assert st_["since_feed_ms"] < 1000, "the watchdog is still being fed"
    center.command(DEV, "feedback", "fb-idle", state="idle")
    assert _result(center, "fb-idle")
    n = len(center.alarms())
    btn.press()
    assert len(center.wait_uplinks("alarm", n + 1, timeout=5)) > n, "a press still raises an alarm"
