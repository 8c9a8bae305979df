"""MQTT over the SIM7600's own TLS (AT+CSSLCFG, AT+CCERTDOWN, AT+CMQTTSSLCFG, AT+CMQTTACCQ with
server_type 1) to the real Mosquitto's TLS listener: the simulated modem terminates TLS itself with
the CA the device wrote to it, and refuses a broker that CA did not sign. The driver on CPython, the
real firmware under MicroPython, and the driver against a real SIM7600's answers from
../shared/data/gsm/simcom_at_facts.json."""
from __future__ import annotations

import json

from fleet_server.broker import pki
from fleet_server.sms.serial_uart import SerialUart
from protocols import codec_json, topics
from protocols.at.data import CA_NAME, CmqttLink
from protocols.at.modem import Modem
from simulators.devices.firmware_button import FirmwareButton
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.gsm.conftest import wait_until
from tests.gsm.replay import ReplayUart
from tests.gsm.test_gateway import alarm
from tests.support.firmware_center import CenterStandIn
from tests.support.mqtt import Recorder

DEV, PASS = "btn-dago-0071", "pw-dago-0071"
TLS_COMMANDS = ("AT+CSSLCFG", "AT+CCERT", "AT+CMQTTACCQ", "AT+CMQTTSSLCFG", "AT+CMQTTCONNECT")


def _link(sim, broker, ca, logs):
    m = Modem(SerialUart(sim.port))
    m.init()
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    opts = {"client_id": DEV, "user": DEV, "password": PASS, "host": "127.0.0.1", "port": broker.tls.port,
            "tls": True, "keepalive_s": 30, "subscriptions": [(topics.subscription_down(DEV), 1)],
            "backoff_min_ms": 100, "backoff_max_ms": 400, "connect_timeout_ms": 10000}
    return CmqttLink(m, opts, log=lambda level, event, **kw: logs.append((level, event, kw)), ca=ca)


def _other_ca(tmp_path) -> bytes:
    """A CA of another city: same kind of certificate, never signed the broker's."""
    pki.create_ca(tmp_path / "other-city")
    return (tmp_path / "other-city" / "ca.pem").read_bytes()


def test_given_the_city_ca_when_a_sim7600_connects_to_the_tls_listener_then_the_modem_holds_the_ca_and_mqtt_runs_over_tls(
        modems, broker):
    sim = modems("+62811000071", "SIM7600")
    ca = broker.tls.ca.read_bytes()
    logs = []
    link = _link(sim, broker, ca, logs)
    rec = Recorder("127.0.0.1", broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("alarm"),))
    try:
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15), (logs, sim.tls_errors)
        assert sim.certs[CA_NAME] == ca
        assert [c for c in sim.commands if c.startswith(TLS_COMMANDS)] == [
            'AT+CSSLCFG="sslversion",0,4', "AT+CCERTLIST", f'AT+CCERTDOWN="{CA_NAME}",{len(ca)}',
            'AT+CSSLCFG="authmode",0,1', f'AT+CSSLCFG="cacert",0,"{CA_NAME}"', f'AT+CMQTTACCQ=0,"{DEV}",1',
            "AT+CMQTTSSLCFG=0,0", f'AT+CMQTTCONNECT=0,"tcp://127.0.0.1:{broker.tls.port}",30,1,"{DEV}","{PASS}"']
        assert link.security() == "tls"
        payload = codec_json.encode(alarm(71))
        assert link.publish(topics.up(DEV, "alarm"), payload, qos=1) == 1
        msgs = rec.wait_for(lambda m: m.topic == topics.up(DEV, "alarm"), 1, 10)
        assert msgs and msgs[0].payload == payload
        assert sim.tls_errors == []
    finally:
        link.close()
        rec.close()


def test_given_a_ca_already_on_the_modem_when_the_link_starts_then_it_is_replaced_not_trusted_as_found(
        modems, broker, tmp_path):
    """A file of the same name from an earlier release (another city's CA) is deleted and written again."""
    sim = modems("+62811000072", "SIM7600")
    sim.certs[CA_NAME] = _other_ca(tmp_path)
    ca = broker.tls.ca.read_bytes()
    link = _link(sim, broker, ca, [])
    try:
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15), sim.tls_errors
        assert f'AT+CCERTDELE="{CA_NAME}"' in sim.commands and sim.certs[CA_NAME] == ca
    finally:
        link.close()


def test_given_another_citys_ca_when_the_sim7600_connects_then_the_handshake_is_refused_with_the_reason_logged(
        modems, broker, tmp_path):
    sim = modems("+62811000073", "SIM7600")
    logs = []
    link = _link(sim, broker, _other_ca(tmp_path), logs)
    try:
        assert wait_until(lambda: (link.step(), any(e == "mqtt_down" for _l, e, _k in logs))[1], 15)
        assert not link.is_up()
        [why] = {kw["why"] for _l, e, kw in logs if e == "mqtt_down"}
        assert why == ("AT+CMQTTCONNECT error 32: TLS handshake failed: the broker's certificate is not "
                       "signed by the provisioned CA"), why
        assert sim.tls_errors and all("certificate verify failed" in e for e in sim.tls_errors), sim.tls_errors
        assert link.security() == "tls"   # what it would be: it never falls back to plaintext
        assert not any(c.startswith("AT+CMQTTACCQ") and not c.endswith(",1") for c in sim.commands)
    finally:
        link.close()


def test_given_tls_without_a_ca_then_the_sim7600_encrypts_without_checking_and_says_tls_unverified(modems, broker):
    sim = modems("+62811000074", "SIM7600")
    link = _link(sim, broker, None, [])
    try:
        assert wait_until(lambda: (link.step(), link.is_up())[1], 15), sim.tls_errors
        assert 'AT+CSSLCFG="authmode",0,0' in sim.commands and not sim.certs
        assert link.security() == "tls_unverified"
    finally:
        link.close()


def test_given_a_real_sim7600s_answers_then_the_tls_client_is_acquired_as_the_real_device_logged_it(shared_data):
    """The one SIM7600 MQTT log in the shared captures (forum post, SIM7600M21-A_V1.1) acquires its
    client with server_type 1, `AT+CMQTTACCQ=0,"SIMCom_client01",1` -> OK, after `+CMQTTSTART: 0`
    came before its OK. The driver, fed those answers, writes that very command; the SSL context
    answers (OK) follow the manual's shapes, which the log does not show."""
    facts = json.loads((shared_data / "gsm" / "simcom_at_facts.json").read_text())
    log = {x["cmd"]: x["resp"] for x in facts["items"][0]["exchange"]}
    accq = 'AT+CMQTTACCQ=0,"SIMCom_client01",1'
    assert log[accq] == ["OK"]

    def answer(lines):
        return b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)

    uart = ReplayUart([
        answer(log["AT+CMQTTSTART"]),           # +CMQTTSTART: 0 before OK, as logged
        answer(["OK"]),                         # AT+CSSLCFG="sslversion",0,4
        answer(["OK"]),                         # AT+CSSLCFG="authmode",0,0
        answer(log[accq]),
        answer(["OK"]),                         # AT+CMQTTSSLCFG=0,0
        answer(["OK", "+CMQTTCONNECT: 0,0"]),
    ])
    link = CmqttLink(Modem(uart), {"client_id": "SIMCom_client01", "host": "broker.example", "port": 8883,
                                   "tls": True, "keepalive_s": 60})
    link.step()
    assert link.is_up()
    written = [w.decode().strip() for w in uart.written]
    assert written == ["AT+CMQTTSTART", 'AT+CSSLCFG="sslversion",0,4', 'AT+CSSLCFG="authmode",0,0', accq,
                       "AT+CMQTTSSLCFG=0,0", 'AT+CMQTTCONNECT=0,"tcp://broker.example:8883",60,1']


def _button(tmp_path, name, sim, broker, ca: bytes) -> FirmwareButton:
    btn = FirmwareButton(tmp_path / name, DEV, PASS, "127.0.0.1", broker.tls.port, modem=sim.port,
                         tamper=False, category="medical", link="gsm", tls=True, ca_file="ca.pem", hold_ms=300,
                         selftest_ms=200, backoff_min_ms=200, backoff_max_ms=800, keepalive_s=10,
                         connect_timeout_ms=10000, resend_s=1, heartbeat_s=1)
    (btn.flash / "ca.pem").write_bytes(ca)
    return btn


def test_given_a_sim7600_button_with_the_city_ca_when_pressed_then_its_alarm_arrives_over_tls_and_the_heartbeat_says_tls(
        tmp_path, broker, modems):
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    center = CenterStandIn(broker.host, broker.port, SERVER_USER, SERVER_PASS, auto_ack=True)
    sim = modems("+62811000075", "SIM7600")
    button = _button(tmp_path, "button", sim, broker, broker.tls.ca.read_bytes())
    try:
        button.start()
        assert wait_until(lambda: button.state()["link"] == "up", 20), button.output()[-3000:]
        button.press()
        assert button.wait_feedback("received", 15), button.output()[-3000:]
        [a] = center.alarms(DEV)
        assert a["cat"] == "medical"
        [h, *_] = center.wait_uplinks("health", 1, timeout=10, where=lambda d: d["dev"] == DEV)
        assert h["sec"] == "tls"
        assert f'AT+CMQTTCONNECT=0,"tcp://127.0.0.1:{broker.tls.port}"' in " ".join(sim.commands)
        assert not any(c.startswith("AT+CIP") for c in sim.commands), "no plaintext TCP beside the modem's TLS"
        assert sim.certs[CA_NAME] == broker.tls.ca.read_bytes()
        assert "modem_link" in button.output() and "mqtt=modem" in button.output()
    finally:
        button.stop()
        center.close()


def test_given_a_sim7600_button_with_another_citys_ca_then_it_never_connects_and_logs_the_handshake_refusal(
        tmp_path, broker, modems):
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    sim = modems("+62811000076", "SIM7600")
    button = _button(tmp_path, "forged", sim, broker, _other_ca(tmp_path))
    try:
        button.start()
        assert wait_until(lambda: "TLS handshake failed" in button.output(), 20), button.output()[-3000:]
        assert button.wait_feedback("no_connection", 5)
        assert button.state()["link"] != "up"
        out = button.output()
        assert "mqtt_down" in out and "error 32" in out and "mqtt_up" not in out
        assert sim.tls_errors and "certificate verify failed" in sim.tls_errors[0]
    finally:
        button.stop()
