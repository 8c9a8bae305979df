"""GSM modules at scale: a crowd of buttons with no data link sends signed SOS by SMS through the
simulated GSM network to the center's modem; the server's gateway turns every alarm into exactly
one incident, and a replay of the whole burst creates nothing."""
import time
from collections import defaultdict

from fleet_server.broker import hash_password
from simulators.fleet.sms_button import SimSmsButton
from simulators.modem import SimModem, SmsNetwork
from tests.support.center import Center

CENTER_NUMBER = "+622270112112"
N = 60


def test_a_crowd_of_sms_buttons_gives_one_incident_per_alarm(broker, tmp_path):
    net = SmsNetwork()
    modem = SimModem(tmp_path / "center-modem", CENTER_NUMBER, net, model="SIM800", capacity=N * 3).start()
    c = Center(broker, tmp_path / "center", env={"SIAGA_SMS_PORT": str(modem.port), "SIAGA_SMS_SWEEP_S": "2",
                                                  "SIAGA_SMS_REPLY": "false"})
    c.server.start()
    try:
        buttons = []
        for i in range(N):
            key = bytes([i % 256]) * 32
            dev = f"btn-gsm-{i:03d}"
            # 400 m apart in a line: far beyond the folding radius, so each alarm is its own incident.
            lat, lon = -6960000 + i * 3600, 107600000
            r = c.server.api("POST", "/devices", json={"id": dev, "kind": "button", "category": "medical",
                                                       "lat_udeg": lat, "lon_udeg": lon, "sms_key": key.hex(),
                                                       "broker_password_hash": hash_password("unused")})
            assert r.status_code == 201, r.text
            buttons.append(SimSmsButton(dev, key, f"+62811{i:07d}", net, CENTER_NUMBER, lat=lat, lon=lon,
                                        category="medical"))
        t0 = time.monotonic()
        for b in buttons:
            b.press()
        deadline = time.monotonic() + 90
        incs = []
        while time.monotonic() < deadline:
            incs = c.incidents()
            if len(incs) >= N:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        where = defaultdict(set)
        for i in incs:
            for a in c.incident(i["id"])["alarms"]:
                assert a["via"] == "sms"
                where[(a["device_id"], a["boot"], a["seq"])].add(i["id"])
        sent = {(b.device_id, *k) for b in buttons for k in b.sent}
        assert set(where) == sent, f"{len(sent - set(where))} alarms missing after {elapsed:.1f}s"
        assert all(len(v) == 1 for v in where.values())
        # The same burst again, byte for byte (a replay attack or a network duplicating): nothing new.
        for b in buttons:
            b.seq -= 1
            b.press()
        time.sleep(6)
        assert len(c.incidents()) == len(incs)
    finally:
        c.server.stop()
        modem.stop()
