"""End to end with the real panic-button firmware, booted by its own entry (firmware.main) from a
config.json that says "link": "gsm" and arms SOS by SMS: the button (MicroPython, sim port, its
own outbox and MQTT client) on a simulated SIM800 whose data fails. Held SOS -> SMS -> center modem -> gateway
-> IncidentService: one incident. Data back -> the firmware's outbox resends over MQTT -> the real
ingest dedupes it (no second incident) -> ack -> the button shows "received" and its outbox empties."""
from __future__ import annotations

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.ingest import MqttIngest
from fleet_server.metrics import Metrics
from fleet_server.settings import Settings
from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
from fleet_server.sms.incident_sink import IncidentSink
from fleet_server.storage.db import Database
from fleet_server.storage.models import Alarm, Incident
from fleet_server.storage.repositories import SqlIncidentStore
from simulators.devices.firmware_button import FirmwareButton
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.gsm.conftest import CENTER, wait_until
from tests.gsm.test_end_to_end_sms import _count
from tests.support.firmware_center import CenterStandIn

DEV, PASS = "btn-dago-0042", "pw-dago-0042"
KEY = bytes(range(100, 132))


def test_given_a_gsm_button_with_data_failing_when_held_then_sos_by_sms_makes_the_incident_and_mqtt_adds_none(
        tmp_path, broker, modems):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    service.register_device(DEV, "button", "test", site="Simpang Dago", lat_udeg=-6885000, lon_udeg=107613000,
                            category="medical", sms_key=KEY.hex())
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    ingest = MqttIngest(Settings(broker={"host": "127.0.0.1", "port": broker.port, "username": SERVER_USER,
                                         "password": SERVER_PASS, "client_id": "e2e-button-server"}, data_dir=tmp_path),
                        service, Metrics())
    sink = IncidentSink(service)
    center = modems(CENTER, "SIM800")
    gateway = SmsGateway(center.port, sink, sink.key_for, MemoryReplayStore(), sweep_s=2.0, backoff_min_s=0.1)
    button_sim = modems("+62811000042", "SIM800")
    button_sim.faults.add("data_drop")
    button = FirmwareButton(tmp_path / "button", DEV, PASS, "127.0.0.1", broker.port, modem=button_sim.port,
                            tamper=False, category="medical", link="gsm", sms_after_s=1, center_number=CENTER,
                            sms_key=KEY.hex(), hold_ms=300, selftest_ms=200, backoff_min_ms=200,
                            backoff_max_ms=800, keepalive_s=10, connect_timeout_ms=3000, resend_s=1)
    ingest.start()
    gateway.start()
    try:
        assert gateway.connected.wait(10) and wait_until(lambda: ingest.link_up, 10)
        button.start()
        button.press()
        assert wait_until(lambda: button.outbox(), 5), button.output()[-2000:]
        assert wait_until(lambda: _count(db, Alarm, via="sms") == 1, 30), button.output()[-3000:]
        assert _count(db, Incident) == 1 and button.outbox(), "no ack yet: only the SMS got through"
        button_sim.faults.discard("data_drop")
        assert button.wait_feedback("received", 30), button.output()[-3000:]
        assert wait_until(lambda: not button.outbox(), 10)
        assert _count(db, Incident) == 1, "the MQTT copy of the same alarm must not open a second incident"
        assert _count(db, Alarm) == 1 and _count(db, Alarm, via="sms") == 1
        assert gateway.stats["alarms"] == 1 and gateway.stats["rejected"] == 0
        assert any(c.startswith("AT+CIPSTART") for c in button_sim.commands)
        out = button.output()
        assert out.index("sos_sms_sent") < out.index("mqtt_up"), "SMS first (data down), MQTT after"
        assert out.count("sos_sms_sent") == 1, "one SMS per alarm, however long MQTT takes"
        assert button.state()["stats"]["sms"] == 1
    finally:
        button.stop()
        gateway.stop()
        ingest.stop()
        db.dispose()


def test_given_a_gsm_button_whose_data_works_when_the_alarm_is_acked_before_sms_after_s_then_no_sms_goes(
        tmp_path, broker, modems):
    """The fallback is for an alarm MQTT could not deliver: acked over GSM data within sms_after_s,
    the same alarm never costs an SMS (nor a second incident at the gateway)."""
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    center = CenterStandIn(broker.host, broker.port, SERVER_USER, SERVER_PASS, auto_ack=True)
    button_sim = modems("+62811000043", "SIM800")
    button = FirmwareButton(tmp_path / "button", DEV, PASS, "127.0.0.1", broker.port, modem=button_sim.port,
                            tamper=False, category="medical", link="gsm", sms_after_s=2, center_number=CENTER,
                            sms_key=KEY.hex(), hold_ms=300, selftest_ms=200, backoff_min_ms=200,
                            backoff_max_ms=800, keepalive_s=10, connect_timeout_ms=3000, resend_s=1)
    try:
        button.start()
        assert wait_until(lambda: button.state()["link"] == "up", 15), button.output()[-2000:]
        button.press()
        assert button.wait_feedback("received", 10), button.output()[-2000:]
        assert wait_until(lambda: not button.outbox(), 5)
        # sms_after_s has passed since the press: an armed fallback would have fired by now
        assert not wait_until(lambda: "sos_sms" in button.output(), 3.0), button.output()[-2000:]
        assert button.state()["stats"]["sms"] == 0 and len(center.alarms(DEV)) >= 1
        assert not any(c.startswith("AT+CMGS") for c in button_sim.commands)
    finally:
        button.stop()
        center.close()
