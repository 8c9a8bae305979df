"""End to end with the real panic-button firmware: the button (MicroPython, sim port, its own outbox
and MQTT client) on a simulated SIM800 whose data fails. Held SOS -> SMS -> center modem -> gateway
-> IncidentService: one incident. Data back -> the firmware's outbox resends over MQTT -> the real
ingest dedupes it (no second incident) -> ack -> the button shows "received" and its outbox empties."""
from __future__ import annotations

import time

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.ingest import MqttIngest
from fleet_server.metrics import Metrics
from fleet_server.server_settings import ServerSettings
from fleet_server.settings import Settings
from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
from fleet_server.sms.incident_sink import IncidentSink
from fleet_server.storage.db import Database
from fleet_server.storage.models import Alarm, Incident
from simulators.devices.firmware_button import FirmwareButton, FirmwareError
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.gsm.conftest import CENTER, wait_until
from tests.gsm.test_end_to_end_sms import _count
from tests.support.mpy import MpyProcess
from tests.support.paths import REPO

DEV, PASS = "btn-dago-0042", "pw-dago-0042"
KEY = bytes(range(100, 132))


class GsmButton(FirmwareButton):
    """FirmwareButton (control channel, presses, feedback) started with the GSM entry point."""

    def __init__(self, workdir, modem_port, **kw):
        super().__init__(workdir, DEV, PASS, "127.0.0.1", kw.pop("broker_port"), **kw)
        self.modem_port = modem_port

    def start(self, timeout: float = 15.0):
        env = {"SIAGA_PORT": "sim", "SIAGA_FLASH": str(self.flash), "SIAGA_CONTROL": f"127.0.0.1:{self.control_port}",
               "SIAGA_KEYS": ",".join(self.keys), "SIAGA_TAMPER": "0", "SIAGA_MODEM": self.modem_port,
               "SIAGA_CENTER": CENTER, "SIAGA_KEY": KEY.hex(), "SIAGA_SMS_AFTER_MS": "1500"}
        self.proc = MpyProcess([str(REPO / "tests" / "gsm" / "mpy_button_gsm.py")], cwd=self.workdir, env=env,
                               log=self.workdir / "firmware.log").start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise FirmwareError(f"firmware exited at start:\n{self.output()[-2000:]}")
            try:
                self.state()
                return self
            except OSError:
                time.sleep(0.05)
        raise FirmwareError(f"no control channel:\n{self.output()[-2000:]}")


def test_given_a_gsm_button_with_data_failing_when_held_then_sos_by_sms_makes_the_incident_and_mqtt_adds_none(
        tmp_path, broker, modems):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(db, Rules())
    service.register_device(DEV, "button", "test", site="Simpang Dago", lat_udeg=-6885000, lon_udeg=107613000,
                            category="medical", sms_key=KEY.hex())
    broker.add_account(DEV, PASS, role="device")
    broker.reload()
    ingest = MqttIngest(Settings(mqtt_host="127.0.0.1", mqtt_port=broker.port, mqtt_username=SERVER_USER,
                                 mqtt_password=SERVER_PASS, mqtt_client_id="e2e-button-server", data_dir=tmp_path),
                        ServerSettings(run_ingest=True), service, Metrics())
    sink = IncidentSink(service)
    center = modems(CENTER, "SIM800")
    gateway = SmsGateway(center.port, sink, sink.key_for, MemoryReplayStore(), sweep_s=2.0, backoff_min_s=0.1)
    button_sim = modems("+62811000042", "SIM800")
    button_sim.faults.add("data_drop")
    button = GsmButton(tmp_path / "button", button_sim.port, broker_port=broker.port, category="medical",
                       hold_ms=300, selftest_ms=200, backoff_min_ms=200, backoff_max_ms=800, keepalive_s=10,
                       connect_timeout_ms=3000, resend_s=1)
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
    finally:
        button.stop()
        gateway.stop()
        ingest.stop()
        db.dispose()
