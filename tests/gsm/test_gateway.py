"""The center's SMS gateway (fleet_server/sms/gateway.py) reading a simulated modem through pyserial
on a real pty, fed by other simulated modems and phones over the simulated SMS network."""
from __future__ import annotations

import logging
import time

from protocols.at.modem import Modem
from fleet_server.sms.serial_uart import SerialUart
from protocols import codec_sms
from tests.gsm.conftest import CENTER, KEYS, wait_until

DEV = "btn-bdg-0001"
PHONE = "+6281234567890"


def alarm(seq: int, boot: int = 3, dev: str = DEV) -> dict:
    return {"v": 1, "t": "alarm", "dev": dev, "boot": boot, "seq": seq, "ts": int(time.time()) - 5,
            "cat": "medical", "trig": "button", "presses": 1, "lat": -6914744, "lon": 107609810,
            "src": "fixed", "acc": 5, "age": 0}


def device(modems, number="+62811000001") -> tuple[Modem, object]:
    sim = modems(number, "SIM800")
    m = Modem(SerialUart(sim.port))
    m.init()
    return m, sim


def test_given_a_device_modem_when_it_sends_a_signed_sos_then_the_sink_gets_one_alarm_and_the_device_a_confirmation(gateway, modems, sink):
    dev, dev_sim = device(modems)
    dev.send_sms(CENTER, codec_sms.encode_alarm(alarm(17), KEYS[DEV]))
    got = sink.wait("alarms", 1)
    a, via, masked = got[0]
    assert (a["dev"], a["boot"], a["seq"], a["cat"], a["lat"], via) == (DEV, 3, 17, "medical", -6914744, "sms")
    assert masked == "+62811***001"
    assert wait_until(lambda: dev_sim.storage, 10), "no confirmation SMS reached the device"
    (idx, msg), = dev.list_sms(4)
    assert msg["text"] == "SIAGA112 OK btn-bdg-0001 3 17" and msg["number"] == CENTER
    assert wait_until(lambda: not gateway.center.storage, 5), "handled SMS not deleted from the center modem"


def test_given_a_phone_when_it_sends_aml_then_a_location_report_and_no_reply(gateway, sms_network, sink, caplog):
    text = 'A"ML=1;lt=-6.91474;lg=+107.60981;rd=12;top=20261122120000;lc=68;pm=G;si=510101234567890;ei=358239059042542;mcc=510;mnc=10;ml=128'
    assert len(text) == 128
    with caplog.at_level(logging.INFO, logger="siaga.sms.gateway"):
        sms_network.send_from(PHONE, CENTER, text)
        (loc, sender, masked), = sink.wait("aml", 1)
    assert (loc["lat"], loc["lon"], loc["radius_m"], loc["method"]) == (-6914740, 107609810, 12.0, "gnss")
    assert masked == "+62812*****890" and sender == PHONE
    logged = " ".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert "510101234567890" not in logged and "358239059042542" not in logged and PHONE not in logged
    assert sms_network.inbox(PHONE) == []


def test_given_a_long_citizen_text_in_two_parts_then_one_whole_report_and_a_confirmation(gateway, sms_network, sink):
    text = ("Lapor: pohon tumbang menutup Jl. Ir. H. Juanda dekat Dago, lalu lintas macet total sejak pukul 06.00. "
            "Mohon dinas terkait segera datang, ada kabel listrik yang ikut jatuh ke jalan. Terima kasih.")
    assert sms_network.send_from(PHONE, CENTER, text) == 2
    (got, sender, masked), = sink.wait("texts", 1)
    assert got == text and masked == "+62812*****890"
    replies = wait_until(lambda: sms_network.inbox(PHONE), 10)
    assert replies and "laporan Anda diterima (no. T1)" in replies[0]["text"]
    assert wait_until(lambda: not gateway.center.storage, 5)


def _variants(good: str, key: bytes) -> list[str]:
    """1,000 SMS an attacker or a bad network could produce from one genuine SOS."""
    out = [good] * 250  # plain replays
    body, mac = good.rsplit(";", 1)
    fields = body.split(";")
    for i in range(250):  # fields changed without the key: signature no longer matches
        f = list(fields)
        f[4] = str(17 + 1 + i)
        out.append(";".join(f) + ";" + mac)
    for i in range(200):  # re-signed with a wrong key
        f = list(fields)
        f[4] = str(1000 + i)
        out.append(codec_sms.encode_alarm(dict(alarm(1000 + i), ts=int(fields[5])), b"x" * 32))
    for i in range(150):  # signature cut short or bit-flipped
        out.append(good[: len(good) - 1 - (i % 15)] if i % 2 else body + ";" + ("0" * 16))
    for i in range(150):  # an older boot, correctly signed: a replay from before a reboot
        out.append(codec_sms.encode_alarm(alarm(i, boot=2), key))
    return out


def test_given_1000_replayed_or_altered_sos_then_all_rejected_with_a_reason_and_no_alarm_reaches_the_sink(gateway, sms_network, sink):
    key = KEYS[DEV]
    good = codec_sms.encode_alarm(alarm(17), key)
    sms_network.send_from("+62811000001", CENTER, good)
    assert len(sink.wait("alarms", 1)) == 1
    variants = _variants(good, key)
    assert len(variants) == 1000
    center = gateway.center
    for i, text in enumerate(variants):
        # Pace the network to what the SIM holds (60 slots), as an SMSC retries a full SIM.
        assert wait_until(lambda: len(center.storage) < 40, 20), "gateway stopped draining the modem"
        sms_network.send_from("+62811000001", CENTER, text)
    rejected = sink.wait("rejected", 1000, timeout=120)
    assert len(rejected) == 1000
    assert len(sink.alarms) == 1
    codes = {}
    for r, kind, _masked in rejected:
        assert kind == "alarm" and len(r.reason) > 10
        codes[r.code] = codes.get(r.code, 0) + 1
    # 250 replays + 150 from an older boot; 250 altered + 200 wrong key + 75 zeroed signatures;
    # 75 signatures cut short.
    assert codes == {"replayed": 400, "bad_hmac": 525, "truncated": 75}


def test_given_the_modem_vanishes_when_it_comes_back_then_the_gateway_reopens_and_delivers(gateway, sms_network, sink):
    center = gateway.center
    center.vanish()
    assert wait_until(lambda: gateway.stats["lost"] >= 1, 10), "gateway did not notice the modem was gone"
    assert not gateway.connected.is_set()
    sms_network.send_from("+62811000001", CENTER, codec_sms.encode_alarm(alarm(40), KEYS[DEV]))  # SMSC stores it on the SIM
    time.sleep(0.3)  # a few failed reopen attempts (backoff 0.05..0.4 s)
    center.reappear()
    assert gateway.connected.wait(10)
    assert gateway.stats["opens"] >= 2
    (a, _via, _m), = sink.wait("alarms", 1)
    assert a["seq"] == 40


def test_given_a_hung_modem_when_it_is_power_cycled_then_the_gateway_recovers(gateway, sms_network, sink):
    center = gateway.center
    center.faults.add("hang")
    assert wait_until(lambda: gateway.stats["lost"] >= 1, 15), "gateway did not notice the hang"
    sms_network.send_from("+62811000001", CENTER, codec_sms.encode_alarm(alarm(41), KEYS[DEV]))
    center.reset()
    assert wait_until(lambda: gateway.connected.is_set() and gateway.stats["opens"] >= 2, 15)
    (a, _via, _m), = sink.wait("alarms", 1, timeout=15)
    assert a["seq"] == 41


def test_given_the_sink_refuses_then_the_sms_stays_and_is_delivered_on_the_next_sweep(gateway, sms_network, sink):
    sink.fail_next = 1
    sms_network.send_from("+62811000001", CENTER, codec_sms.encode_alarm(alarm(50), KEYS[DEV]))
    assert wait_until(lambda: gateway.stats["sink_errors"] == 1, 10)
    assert gateway.center.storage, "a refused SOS must stay on the modem"
    (a, _via, _m), = sink.wait("alarms", 1, timeout=10)  # the 2 s sweep offers it again
    assert a["seq"] == 50 and gateway.stats["alarms"] == 1
    assert wait_until(lambda: not gateway.center.storage, 5)


def test_given_garbage_and_slow_replies_then_messages_still_arrive(gateway, sms_network, sink):
    gateway.center.faults.update({"garbage", "slow"})
    gateway.center.slow_ms = 50
    sms_network.send_from(PHONE, CENTER, "Ada kebakaran kecil di pasar, sudah padam.")
    (text, _s, _m), = sink.wait("texts", 1, timeout=20)
    assert text.startswith("Ada kebakaran")


def _data_sms(sender: str, payload: bytes) -> str:
    """An 8-bit data SMS-DELIVER as Android sends AML (DCS 0x04)."""
    from protocols.sms import pdu as sms_pdu

    tpdu = (bytes((0x04,)) + sms_pdu.encode_address(sender) + bytes((0, 0x04))
            + sms_pdu.encode_timestamp(sms_pdu.from_unix(int(time.time()), 28)) + bytes((len(payload),)) + payload)
    return "00" + tpdu.hex().upper()


def test_given_android_data_sms_aml_then_a_location_and_a_wap_push_is_rejected_as_not_ours(gateway, sms_network, sink, shared_data):
    import json

    vec = json.loads((shared_data / "aml" / "aml_vectors.json").read_text())["data_sms_vector"]
    sms_network.send_pdu_from(CENTER, _data_sms(PHONE, bytes.fromhex(vec["payload_hex"])))
    (loc, _sender, _masked), = sink.wait("aml", 1)
    assert loc["lat"] == 37_421_750 and loc["method"] == "gnss"
    dump = (shared_data / "gsm" / "gammu_dumps" / "at-sms" / "40.dump").read_text().splitlines()
    sms_network.send_pdu_from(CENTER, dump[2].strip())
    (r, kind, _m), = sink.wait("rejected", 1)
    assert kind == "sms" and "not AML" in r.reason and "(2948, 9200)" in r.reason
    assert wait_until(lambda: not gateway.center.storage, 5)


def test_given_a_flood_of_texts_from_one_number_then_replies_stop_at_the_hourly_budget(gateway, sms_network, sink):
    for i in range(14):
        sms_network.send_from(PHONE, CENTER, "iseng %d" % i)
    assert len(sink.wait("texts", 14)) == 14  # every report is still taken
    assert wait_until(lambda: gateway.stats["replies_skipped"] == 4, 10)
    assert len(sms_network.inbox(PHONE)) == 10


def test_given_a_persisted_replay_window_when_the_gateway_restarts_then_an_old_sos_is_still_a_replay(modems, sink, sms_network, tmp_path):
    """Each run is a new process's view: a new Database on the same SQLite file, a new gateway."""
    from fleet_server.sms.gateway import SmsGateway
    from fleet_server.storage.db import Database
    from fleet_server.storage.sms_replay import DatabaseReplayStore

    center = modems(CENTER, "SIM800")
    url = f"sqlite:///{tmp_path / 'siaga.db'}"
    sos = codec_sms.encode_alarm(alarm(80), KEYS[DEV])
    for run in range(2):
        db = Database(url)
        gw = SmsGateway(center.port, sink, KEYS.get, DatabaseReplayStore(db), sweep_s=2.0, backoff_min_s=0.05)
        gw.start()
        try:
            assert gw.connected.wait(10)
            sms_network.send_from("+62811000001", CENTER, sos)
            if run == 0:
                assert len(sink.wait("alarms", 1)) == 1
                assert wait_until(lambda: DatabaseReplayStore(db).load(DEV) == (3, 80, 1), 10)
            else:
                (r, kind, _m), = sink.wait("rejected", 1)
                assert r.code == "replayed" and "already received" in r.reason
        finally:
            gw.stop()
            db.dispose()
    assert len(sink.alarms) == 1
