"""The device side on a simulated modem (real pty, pyserial UART): hung-modem recovery through the
reset pin, SOS by SMS, and MQTT through a SIM7600's AT+CMQTT bridged to a real Mosquitto."""
from __future__ import annotations

import time

from protocols.at.modem import Modem
from protocols.at.data import CmqttLink
from firmware.app.modem_sos import SmsUplink
from fleet_server.sms.serial_uart import SerialUart
from protocols import codec_json, topics
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.gsm.conftest import CENTER, KEYS, wait_until
from tests.gsm.test_gateway import alarm
from tests.support.mqtt import Recorder

DEV = "btn-bdg-0001"


class ResetPin:
    """The GPIO wired to the modem's RESET line: driving it active resets the simulated module."""

    def __init__(self, sim):
        self.sim = sim
        self.levels = []

    def value(self, v):
        self.levels.append(v)
        if v == 0:
            self.sim.reset()


def test_given_a_hung_modem_when_the_driver_recovers_then_a_reset_pulse_and_reinit_bring_it_back(modems):
    sim = modems("+62811000009", "SIM800")
    pin = ResetPin(sim)
    m = Modem(SerialUart(sim.port), reset_pin=pin, boot_ms=50)
    assert m.init() == "READY"
    sim.faults.add("hang")
    t0 = time.monotonic()
    assert m.recover() is True
    assert pin.levels == [0, 1] and m.resets == 1 and sim.resets == 1
    assert time.monotonic() - t0 < 5
    assert m.signal()["rssi"] == 18
    assert "ATE0" in sim.commands[-4:] or "ATE0" in sim.commands  # re-initialised after the reset


def test_given_no_reset_pin_and_a_hung_modem_then_recover_says_no_within_its_timeouts(modems):
    sim = modems("+62811000010", "SIM800")
    m = Modem(SerialUart(sim.port))
    m.init()
    sim.faults.add("hang")
    t0 = time.monotonic()
    assert m.recover() is False
    assert time.monotonic() - t0 < 3


def test_given_sms_failure_then_the_sos_uplink_reports_none_and_succeeds_when_the_network_returns(gateway, modems, sink):
    sim = modems("+62811000011", "SIM800")
    up = SmsUplink(Modem(SerialUart(sim.port)), CENTER, KEYS[DEV])
    up.modem.init()
    sim.faults.add("no_network")
    assert up.send_alarm(alarm(60)) is None and up.failed == 1
    sim.faults.discard("no_network")
    assert type(up.send_alarm(alarm(60))) is int
    (a, _via, _m), = sink.wait("alarms", 1)
    assert a["seq"] == 60


def _cmqtt_link(sim, broker, got, ups):
    m = Modem(SerialUart(sim.port))
    m.init()
    broker.add_account(DEV, "dev-secret", role="device")
    broker.reload()
    opts = {"client_id": DEV, "user": DEV, "password": "dev-secret", "host": "127.0.0.1", "port": broker.port,
            "keepalive_s": 30, "subscriptions": [(topics.subscription_down(DEV), 1)],
            "backoff_min_ms": 100, "backoff_max_ms": 400, "connect_timeout_ms": 10000}
    return CmqttLink(m, opts, on_message=lambda t, p: got.append((t, p)), on_up=lambda: ups.append(1))


def test_given_a_sim7600_when_the_device_publishes_through_cmqtt_then_the_broker_delivers_both_ways(modems, broker):
    sim = modems("+62811000012", "SIM7600")
    got, ups = [], []
    link = _cmqtt_link(sim, broker, got, ups)
    rec = Recorder("127.0.0.1", broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("alarm"),))
    try:
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15), "CMQTT link did not come up"
        payload = codec_json.encode(alarm(70))
        assert link.publish(topics.up(DEV, "alarm"), payload, qos=1) == 1
        msgs = rec.wait_for(lambda m: m.topic == topics.up(DEV, "alarm"), 1, 10)
        assert msgs and msgs[0].payload == payload
        ack = b'{"v":1,"t":"ack","dev":"btn-bdg-0001","boot":3,"seq":70,"inc":9,"ts":1795377360}' + b" " * 600
        rec.publish(topics.down(DEV, "ack"), ack)  # > 512 bytes: arrives in several +CMQTTRXPAYLOAD chunks
        assert wait_until(lambda: (link.step(), got)[1], 10)
        assert got == [(topics.down(DEV, "ack"), ack)]
    finally:
        link.close()
        rec.close()


def test_given_data_drops_then_the_cmqtt_link_goes_down_and_returns_when_data_is_back(modems, broker):
    sim = modems("+62811000013", "SIM7600")
    got, ups = [], []
    link = _cmqtt_link(sim, broker, got, ups)
    try:
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15)
        sim.drop_data()
        assert wait_until(lambda: (link.step(), not link.is_up())[1], 10), "link did not notice +CMQTTCONNLOST"
        assert link.publish(topics.up(DEV, "alarm"), b"{}") is None
        for _ in range(5):
            link.step()
        assert not link.is_up()
        sim.faults.discard("data_drop")
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15), "link did not come back"
        assert len(ups) == 2 and link.connects == 2
    finally:
        link.close()


def test_given_a_sim800_when_the_firmware_mqtt_client_runs_over_gsm_tcp_under_micropython_then_both_directions_work(modems, broker):
    """The button's own MQTT client (firmware.app.mqtt_link) over the GSM link (GsmNet: AT+CIPSTART /
    CIPSEND / +IPD) on the real MicroPython binary, through a pty, to a real Mosquitto."""
    import json
    import threading

    from tests.support.mpy import run_script

    sim = modems("+62811000014", "SIM800")
    broker.add_account(DEV, "dev-secret", role="device")
    broker.reload()
    rec = Recorder("127.0.0.1", broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("alarm"),))
    stop = threading.Event()

    def answer():  # the server's side: ack what the device published
        if rec.wait_for(lambda m: m.topic == topics.up(DEV, "alarm"), 1, 20) and not stop.is_set():
            rec.publish(topics.down(DEV, "ack"), b'{"ok":1}')

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        res = run_script("tests/gsm/mpy_gsm_link.py", timeout=40, env={
            "SIAGA_MODEM": sim.port, "SIAGA_MQTT": f"127.0.0.1:{broker.port}", "SIAGA_DEV": DEV, "SIAGA_PASS": "dev-secret"})
        assert res.returncode == 0, res.stderr.decode()
        lines = [json.loads(l) for l in res.stdout.decode().splitlines() if l.startswith("{")]
        assert {"sim": "READY"} in lines and {"up": True} in lines
        assert len(lines[-1]["puback"]) == 1  # the PUBACK of our alarm (packet id 1 went to SUBSCRIBE)
        assert lines[-1]["messages"] == [[topics.down(DEV, "ack"), '{"ok":1}']]
        msgs = rec.matching(lambda m: m.topic == topics.up(DEV, "alarm"))
        assert msgs and msgs[0].payload == b'{"hello":"via SIM800"}'
        assert any(c.startswith("AT+CIPSTART=") for c in sim.commands)
    finally:
        stop.set()
        t.join(25)
        rec.close()


def test_given_a_sim_with_a_pin_then_init_unlocks_it_and_a_wrong_pin_is_a_cme_error(modems):
    import pytest

    from protocols.at.modem import AtError

    sim = modems("+62811000015", "SIM7600", pin="4321")
    with pytest.raises(AtError) as e:
        Modem(SerialUart(sim.port)).init()  # no PIN configured
    assert e.value.code == 11
    with pytest.raises(AtError) as e:
        Modem(SerialUart(sim.port)).init(pin="0000")
    assert e.value.kind == "cme" and e.value.code == 16
    m = Modem(SerialUart(sim.port))
    assert m.init(pin="4321") == "READY"
    assert m.registration("CGREG")["registered"] and m.registration("CEREG")["stat"] == 1


def test_given_no_network_then_registration_says_searching_and_signal_unknown(modems):
    sim = modems("+62811000016", "SIM800")
    m = Modem(SerialUart(sim.port))
    m.init()
    sim.faults.add("no_network")
    r = m.registration()
    assert (r["state"], r["registered"]) == ("searching", False)
    assert m.signal() == {"rssi": -1, "ber": 99, "dbm": None}
    assert m.operator() is None
    assert m.wait_registered(timeout_ms=300, every_ms=50) is None
    sim.faults.discard("no_network")
    assert m.wait_registered(timeout_ms=2000, every_ms=50)["state"] == "home"


def test_given_a_sim7600_when_the_cmqtt_link_runs_under_micropython_then_it_publishes_and_receives(modems, broker):
    import json
    import threading

    from tests.support.mpy import run_script

    sim = modems("+62811000017", "SIM7600")
    broker.add_account(DEV, "dev-secret", role="device")
    broker.reload()
    rec = Recorder("127.0.0.1", broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("alarm"),))

    def answer():
        if rec.wait_for(lambda m: m.topic == topics.up(DEV, "alarm"), 1, 20):
            rec.publish(topics.down(DEV, "cmd"), b'{"op":"feedback"}')

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        res = run_script("tests/gsm/mpy_cmqtt.py", timeout=40, env={
            "SIAGA_MODEM": sim.port, "SIAGA_MQTT": f"127.0.0.1:{broker.port}", "SIAGA_DEV": DEV, "SIAGA_PASS": "dev-secret"})
        assert res.returncode == 0, res.stderr.decode()
        out = json.loads(res.stdout.decode().splitlines()[-1])
        assert out == {"pid": 1, "messages": [[topics.down(DEV, "cmd"), '{"op":"feedback"}']], "connects": 1}
        assert rec.matching(lambda m: m.payload == b'{"hello":"via SIM7600"}')
    finally:
        t.join(25)
        rec.close()


class PowerKey:
    """PWRKEY wired to the simulated module: each low pulse toggles its power."""

    def __init__(self, sim):
        self.sim = sim
        self.on = True
        self.pulses = 0

    def value(self, v):
        if v == 0:
            self.pulses += 1
            self.on = not self.on
            if self.on:
                self.sim.reset()
            else:
                self.sim.faults.add("hang")  # off: nothing answers


def test_given_only_a_power_key_when_the_modem_hangs_then_recover_cycles_it_off_and_on(modems):
    sim = modems("+62811000018", "SIM800")
    key = PowerKey(sim)
    m = Modem(SerialUart(sim.port), power_pin=key, boot_ms=50)
    m.pwrkey_on_ms = m.pwrkey_off_ms = m.pwrkey_gap_ms = 20
    m.init()
    sim.faults.add("hang")
    assert m.recover() is True
    assert key.pulses == 2 and key.on and m.signal()["rssi"] == 18
    key.value(0)  # switched off by hand
    m.power_on()
    assert key.pulses == 4 and key.on and m.sync(1, 500)
