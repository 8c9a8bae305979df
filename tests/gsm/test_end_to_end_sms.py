"""End to end, on real parts: a field device (the firmware's GSM modules on the MicroPython binary)
on a simulated SIM800 whose data bearer fails; its SOS goes by SMS through the simulated network to
the center's modem, the gateway (pyserial) and the real IncidentService on SQLite -> one incident.
When data comes back the MQTT copy of the same alarm reaches the real MQTT ingest on a real
Mosquitto: no second incident, and the device gets the server's ack for that incident."""
from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.ingest import MqttIngest
from fleet_server.metrics import Metrics
from fleet_server.settings import Settings
from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
from fleet_server.sms.incident_sink import IncidentSink
from fleet_server.storage.db import Database
from fleet_server.storage.models import Alarm, Incident
from fleet_server.storage.repositories import SqlIncidentStore
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.gsm.conftest import CENTER, wait_until
from tests.support.mpy import MpyProcess
from tests.support.paths import REPO

DEV = "btn-bdg-0077"
KEY = bytes(range(32))


def _count(db, model, **where):
    with db.read() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.execute(q).scalar_one()


def test_given_data_failing_when_the_device_raises_an_sos_then_sms_makes_one_incident_and_the_mqtt_copy_none_more(
        tmp_path, broker, modems):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    service.register_device(DEV, "button", "test", site="Alun-alun Bandung", lat_udeg=-6921800, lon_udeg=107607000,
                            category="unknown", sms_key=KEY.hex())
    broker.add_account(DEV, "dev-secret", role="device")
    broker.reload()
    ingest = MqttIngest(Settings(broker={"host": "127.0.0.1", "port": broker.port, "username": SERVER_USER,
                                         "password": SERVER_PASS, "client_id": "e2e-server"}, data_dir=tmp_path),
                        service, Metrics())
    sink = IncidentSink(service)
    center = modems(CENTER, "SIM800")
    gateway = SmsGateway(center.port, sink, sink.key_for, MemoryReplayStore(), sweep_s=2.0, backoff_min_s=0.1)
    device_sim = modems("+62811000077", "SIM800")
    device_sim.faults.add("data_drop")  # GPRS up, TCP connects fail: the MQTT path is dead
    alarm = {"v": 1, "t": "alarm", "dev": DEV, "boot": 4, "seq": 9, "ts": int(time.time()) - 2, "cat": "fire",
             "trig": "button", "presses": 1, "lat": -6921801, "lon": 107607010, "src": "gps", "acc": 9, "age": 3}
    device = MpyProcess(["tests/gsm/mpy_sos_device.py"], cwd=REPO,
                        env={"SIAGA_MODEM": device_sim.port, "SIAGA_MQTT": f"127.0.0.1:{broker.port}", "SIAGA_DEV": DEV,
                             "SIAGA_PASS": "dev-secret", "SIAGA_CENTER": CENTER, "SIAGA_KEY": KEY.hex(),
                             "SIAGA_SMS_AFTER_MS": "1500", "SIAGA_RUN_MS": "40000", "SIAGA_ALARM": json.dumps(alarm)},
                        log=tmp_path / "device.log")
    ingest.start()
    gateway.start()
    try:
        assert gateway.connected.wait(10) and wait_until(lambda: ingest.link_up, 10)
        device.start()
        # The SOS arrives by SMS: one incident, its alarm recorded as via=sms.
        assert wait_until(lambda: _count(db, Alarm, via="sms") == 1, 30), device.output()
        assert _count(db, Incident) == 1
        assert "mqtt_publish" not in device.output()  # it really came by SMS, data was down
        assert wait_until(lambda: gateway.stats["replies"] == 1, 10)  # the confirmation SMS to the device
        # Data comes back: the device's MQTT copy of the same alarm reaches the ingest.
        device_sim.faults.discard("data_drop")
        assert wait_until(lambda: not device.running, 30), device.output()
        lines = [json.loads(l) for l in device.output().splitlines() if l.startswith("{")]
        final = lines[-1]
        with db.read() as s:
            incident_id = s.execute(select(Incident.id)).scalar_one()
        assert final["acked"] == [incident_id] and type(final["sms_ref"]) is int
        assert any("mqtt_publish" in l for l in lines)
        assert _count(db, Incident) == 1, "the MQTT copy must not open a second incident"
        assert _count(db, Alarm) == 1 and _count(db, Alarm, via="sms") == 1
        assert gateway.stats["alarms"] == 1 and gateway.stats["rejected"] == 0
    finally:
        device.stop()
        gateway.stop()
        ingest.stop()
        db.dispose()
