"""The center's SMS modem, end to end through the server process: the server opens a simulated
SIM800 on a real pty (SIAGA_SMS_PORT) and every kind of SMS lands in the right queue — a signed SOS
becomes an emergency from its device, an AML caller location an emergency for triage with the
phone's position and confidence, a citizen's text a non-emergency report."""
import json
import re
import time

import httpx

from protocols import codec_sms
from simulators.modem import SimModem, SmsNetwork
from tests.support.center import Center

CENTER_NUMBER = "+622270112112"
KEY = bytes(range(32))
AML = ('A"ML=1;lt=-6.91474;lg=+107.60981;rd=50;top=20261122141935;lc=68;pm=G;si=510101234567890;'
       'ei=3534560000000000;mcc=510;mnc=10;ml=0')


def _aml_text():
    # ml is the length of the whole SMS, itself included (ETSI TS 103 625): three digits here.
    text = AML[:-1] + str(len(AML) - 1 + 3)
    assert len(text) == int(text.rsplit("=", 1)[1])
    return text


def _wait(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    return pred()


def test_sos_aml_and_text_by_sms_reach_their_queues(broker, tmp_path):
    net = SmsNetwork()
    modem = SimModem(tmp_path / "center-modem", CENTER_NUMBER, net, model="SIM800").start()
    c = Center(broker, tmp_path / "center", env={"SIAGA_SMS_PORT": str(modem.port), "SIAGA_SMS_SWEEP_S": "2"})
    c.server.start()
    try:
        c.register("btn-sms-01", "pw-sms-01", category="fire", lat_udeg=-6921000, lon_udeg=107607000,
                   sms_key=KEY.hex())
        now = int(time.time())
        alarm = {"v": 1, "t": "alarm", "dev": "btn-sms-01", "boot": 2, "seq": 9, "ts": now, "cat": "fire",
                 "trig": "button", "presses": 1, "lat": -6921000, "lon": 107607000, "src": "fixed", "acc": 5,
                 "age": None}
        net.send_from("+6281100000001", CENTER_NUMBER, codec_sms.encode_alarm(alarm, KEY))
        net.send_from("+6281298765432", CENTER_NUMBER, _aml_text())
        net.send_from("+6281298765432", CENTER_NUMBER, "Lampu jalan mati di Jl. Braga depan toko buku")
        incs = _wait(lambda: len(c.incidents()) >= 3 and c.incidents())
        assert len(incs) == 3, incs
        by_kind = {}
        for i in incs:
            d = c.incident(i["id"])
            key = "sos" if d["alarms"] else ("aml" if d["type"] == "emergency" else "text")
            by_kind[key] = d
        sos, aml, text = by_kind["sos"], by_kind["aml"], by_kind["text"]
        assert sos["category"] == "fire" and [a["via"] for a in sos["alarms"]] == ["sms"]
        assert (sos["alarms"][0]["boot"], sos["alarms"][0]["seq"]) == (2, 9)
        assert aml["category"] == "unknown" and aml["priority"] <= 2
        assert aml["location"] == {"lat_udeg": -6914740, "lon_udeg": 107609810, "source": "gps", "acc_m": 50,
                                   "age_s": None}
        # Stored in full: the admin (a role that calls back) sees it; lists show it masked.
        assert aml["reporter"] == "+6281298765432"
        listed = {i["id"]: i for i in incs}[aml["id"]]
        assert "6281298765432" not in str(listed["reporter"]), "the caller's number is masked in lists"
        assert text["type"] == "report" and "Braga" in text["summary"]
        metrics = httpx.get(c.server.base_url + "/metrics", timeout=10).text
        for kind in ("alarm", "aml", "text"):
            assert f'siaga_sms_received_total{{kind="{kind}"}} 1.0' in metrics, kind
        assert "6281298765432" not in metrics and "6281100000001" not in metrics
        sent = re.compile(r"^siaga_sms_sent_total (\S+)$", re.M)
        assert _wait(lambda: float(sent.search(httpx.get(c.server.base_url + "/metrics", timeout=10).text)[1]) >= 1), \
            "the confirmation SMS are counted"
    finally:
        c.server.stop()
        modem.stop()


def _logged(c: Center, message: str) -> list[dict]:
    out = []
    for line in c.server.output().splitlines():
        if line.startswith("{") and message in line:
            rec = json.loads(line)
            if rec.get("msg") == message:
                out.append(rec)
    return out


def test_replay_windows_of_an_earlier_servers_file_hold_through_import_and_restart(broker, tmp_path):
    """The server starts on a data directory where an earlier server kept its replay windows in
    sms_replay.json: the file is imported into the database and retired; an SOS it remembered is a
    replay, a new one an alarm; after a restart that alarm is a replay too."""
    net = SmsNetwork()
    modem = SimModem(tmp_path / "center-modem", CENTER_NUMBER, net, model="SIM800").start()
    c = Center(broker, tmp_path / "center", env={"SIAGA_SMS_PORT": str(modem.port), "SIAGA_SMS_SWEEP_S": "2"})
    (tmp_path / "center" / "sms_replay.json").write_text(json.dumps({"btn-sms-02": [2, 9, 1]}))
    c.server.start()
    try:
        c.register("btn-sms-02", "pw-sms-02", category="fire", lat_udeg=-6921000, lon_udeg=107607000,
                   sms_key=KEY.hex())
        assert not (tmp_path / "center" / "sms_replay.json").exists()
        assert (tmp_path / "center" / "sms_replay.json.imported").exists()
        (imported,) = _logged(c, "SMS replay windows imported into the database; file retired")
        assert (imported["imported"], imported["skipped"]) == (1, 0)

        def sos(seq):
            alarm = {"v": 1, "t": "alarm", "dev": "btn-sms-02", "boot": 2, "seq": seq, "ts": int(time.time()),
                     "cat": "fire", "trig": "button", "presses": 1, "lat": -6921000, "lon": 107607000,
                     "src": "fixed", "acc": 5, "age": None}
            net.send_from("+6281100000002", CENTER_NUMBER, codec_sms.encode_alarm(alarm, KEY))

        def alarms():
            incs = c.incidents()
            return [(a["boot"], a["seq"]) for i in incs for a in c.incident(i["id"])["alarms"]]

        def replayed():
            return [r["reason"] for r in _logged(c, "SMS rejected") if r["code"] == "replayed"]

        sos(9)
        sos(10)
        assert _wait(lambda: alarms() == [(2, 10)]), alarms()
        assert _wait(lambda: replayed() == ["seq 9 of boot 2 was already received"]), replayed()

        c.server.restart()
        assert not _logged(c, "SMS replay windows imported into the database; file retired")[1:], "imported twice"
        sos(10)
        sos(11)
        assert _wait(lambda: sorted(alarms()) == [(2, 10), (2, 11)]), alarms()
        assert _wait(lambda: len(replayed()) == 2), replayed()
        assert replayed()[1] == "seq 10 of boot 2 was already received"
    finally:
        c.server.stop()
        modem.stop()
