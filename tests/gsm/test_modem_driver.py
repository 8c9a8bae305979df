"""The AT driver (protocols/at/modem.py) driven by every transcript and modem dump in
../shared/data/gsm, replayed byte for byte through a UART built from the capture."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols.at import parse
from protocols.sms import pdu as sms_pdu
from protocols.at.modem import AtError, Modem
from tests.gsm.replay import ReplayUart, frame
from tests.support.paths import shared_files


def _transcripts(shared_data: Path) -> list[dict]:
    return json.loads((shared_data / "gsm" / "at_transcripts.json").read_text())["transcripts"]


def _modem(lines: list[str], pdu_mode: bool = True, unsolicited: bytes = b"") -> tuple[Modem, ReplayUart]:
    uart = ReplayUart(frame(lines), unsolicited)
    return Modem(uart, pdu_mode=pdu_mode), uart


def _dump(shared_data: Path, name: str) -> tuple[str, bytes]:
    raw = (shared_data / "gsm" / "gammu_dumps" / name).read_bytes()
    first, _, rest = raw.partition(b"\n")
    return first.decode().strip(), rest.replace(b"\n", b"\r\n")


def test_given_csq_transcripts_then_rssi_matches_and_99_means_unknown(shared_data):
    for t in _transcripts(shared_data):
        if t.get("command", "") != "AT+CSQ":
            continue
        m, _ = _modem(t["response"])
        if "error" in t["expect"]:
            with pytest.raises(AtError) as e:
                m.signal()
            assert e.value.kind == "bad_response"
        else:
            assert m.signal()["rssi"] == t["expect"]["rssi"]


def test_given_cops_transcripts_then_the_operator_name_or_none(shared_data):
    for t in _transcripts(shared_data):
        if t.get("command", "") == "AT+COPS?":
            m, _ = _modem(t["response"])
            assert m.operator() == t["expect"]["operator"]


def test_given_creg_transcripts_and_gammu_dumps_then_registration_fields_match(shared_data):
    seen = 0
    for t in _transcripts(shared_data):
        if t.get("command", "") == "AT+CREG?":
            m, _ = _modem(t["response"])
            r = m.registration()
            assert r["stat"] == t["expect"]["stat"]
            assert r["registered"] is (t["expect"]["stat"] in (1, 5))
            seen += 1
        elif "raw_file" in t:
            cmd, raw = _dump(shared_data, t["raw_file"].split("/", 1)[1])
            m = Modem(ReplayUart([raw]))
            want = t["expect"]
            if "gammu_expect" in want and want["gammu_expect"].startswith("fails"):
                with pytest.raises(AtError) as e:
                    m.registration()
                assert e.value.kind == "bad_response"
            elif "note" in want and "no +CREG" in want["note"]:
                with pytest.raises(AtError):
                    m.registration()
            else:
                r = m.registration()
                assert (r["n"], r["stat"]) == (want["n"], want["stat"]), t["raw_file"]
                if "lac" in want:
                    assert r["lac"] == want["lac"].split(" ")[0]
                if "ci" in want:
                    assert r["ci"] == want["ci"]
                if "act" in want:
                    assert r["act"] == want["act"]
                assert r["roaming"] is (want["stat"] == 5)
            seen += 1
    assert seen == 14


def test_given_registration_urcs_then_the_unsolicited_form_without_n_parses():
    assert parse.registration('+CREG: 5,"2AF5","0B88E350"', urc=True)["roaming"] is True
    assert parse.registration("+CEREG: 1", urc=True)["stat"] == 1
    assert parse.registration('+CREG: 2,1,"0B,"0100701",7') is None


def test_given_csca_transcripts_and_dumps_then_smsc_is_read_or_none(shared_data):
    for t in _transcripts(shared_data):
        if t.get("command", "") == "AT+CSCA?":
            m, _ = _modem(t["response"])
            assert m.smsc() == t["expect"]["smsc"]
    want = {"01.dump": "+97254120032", "02.dump": "+79168999100", "03.dump": "6281100000", "05.dump": "+447802092035"}
    for name, number in want.items():
        _cmd, raw = _dump(shared_data, "at-smsc/" + name)
        assert Modem(ReplayUart([raw])).smsc() == number
    _cmd, raw = _dump(shared_data, "at-smsc-failing/04.dump")
    assert Modem(ReplayUart([raw])).smsc() is None


def test_given_a_text_mode_send_then_the_prompt_is_answered_and_the_reference_returned(shared_data):
    t = next(t for t in _transcripts(shared_data) if t["source"] == "python-gsmmodem test_sendSmsTextMode")
    m, uart = _modem(t["response"], pdu_mode=False)
    assert m.send_sms("+0123456789", "Hello world!") == [142]
    assert uart.written[0] == b'AT+CMGS="+0123456789"\r' and uart.written[1] == b"Hello world!\x1a"


def test_given_urcs_interleaved_before_the_prompt_and_the_reference_then_the_send_succeeds(shared_data):
    t = next(t for t in _transcripts(shared_data) if "ZTE modem" in t["source"])
    lines = [l.replace("<ref>", "77") for l in t["response"]]
    m, uart = _modem(lines)
    assert m.send_sms("+27820001111", "Hello World!") == [77]
    assert uart.written[1].startswith(b"0001") and uart.written[1].endswith(b"\x1a")


def test_given_no_cmgs_line_then_the_send_fails_with_a_reason(shared_data):
    t = next(t for t in _transcripts(shared_data) if t["source"] == "python-gsmmodem test_sendSms_noCgmsResponse")
    m, _ = _modem(["> ", "(PDU)"] + t["response"])
    with pytest.raises(AtError) as e:
        m.send_sms("+27820001111", "x")
    assert "no +CMGS reference" in str(e.value)


def test_given_error_transcripts_then_cme_cms_and_nonstandard_errors_are_raised_with_codes(shared_data):
    for t in _transcripts(shared_data):
        line = t["response"][0] if len(t.get("response", ())) == 1 else ""
        if line.startswith("+CME ERROR") or line.startswith("+CMS ERROR") or line == "COMMAND NOT SUPPORT":
            m, _ = _modem(t["response"])
            with pytest.raises(AtError) as e:
                m.command("AT+TEST", busy_retries=0)
            if line == "COMMAND NOT SUPPORT":
                assert e.value.kind == "not_supported"
            else:
                assert e.value.kind == line[1:4].lower() and e.value.code == int(line.split(":")[1])


def test_given_a_wavecom_that_omits_the_final_ok_then_the_cpin_answer_is_kept(shared_data):
    t = next(t for t in _transcripts(shared_data) if "omits the final OK" in t.get("note", ""))
    m, _ = _modem(t["response"])
    assert m.sim_state() == "READY"


def test_given_model_dumps_then_the_model_is_trimmed(shared_data):
    t = next(t for t in _transcripts(shared_data) if t.get("command", "") == "AT+CGMM")
    m, _ = _modem(t["response"])
    assert m.model() == t["expect"]["model"]
    for p in shared_files("gsm", "gammu_dumps", "at-model", pattern="*.dump"):
        _cmd, raw = _dump(shared_data, "at-model/" + p.name)
        assert Modem(ReplayUart([raw])).model()


def test_given_a_cmti_urc_then_the_handler_reads_the_text_mode_message(shared_data):
    t = next(t for t in _transcripts(shared_data) if t["source"] == "python-gsmmodem test_receiveSmsTextMode")
    urc, reply = t["response"][0], [l for l in t["response"][2:]]
    m, _ = _modem(reply, pdu_mode=False, unsolicited=b"\r\n" + urc.encode() + b"\r\n")
    got = []
    m.on("+CMTI:", lambda line: got.append(m.read_sms(parse.cmti(line)[1])))
    m.poll(50)
    msg = got[0]
    assert (msg["number"], msg["text"], sms_pdu.iso(msg["time"]), msg["status"]) == (
        t["expect"]["number"], t["expect"]["text"], t["expect"]["time"], t["expect"]["status"])


def test_given_cmgl_in_text_and_pdu_mode_then_the_same_three_messages(shared_data):
    ts = _transcripts(shared_data)
    text = next(t for t in ts if t.get("command", "") == 'AT+CMGL="ALL"')
    pdu = next(t for t in ts if t.get("command", "") == "AT+CMGL=4")
    a, _ = _modem(text["response"], pdu_mode=False)
    b, _ = _modem(pdu["response"])
    la, lb = a.list_sms(4), b.list_sms(4)
    assert [i for i, _ in la] == [i for i, _ in lb] == [0, 1, 2]
    for (i, ma), (_j, mb), want in zip(la, lb, text["expect"]["messages"]):
        assert ma["number"] == mb["number"] == want["number"]
        assert ma["status"] == mb["status"] == want["status"]
        assert sms_pdu.iso(ma["time"]) == sms_pdu.iso(mb["time"]) == want["time"]
        assert ma["text"] == mb["text"]


def test_given_cmgr_pdu_and_status_report_transcripts_then_fields_match(shared_data):
    for t in _transcripts(shared_data):
        if not t.get("command", "").startswith(("AT+CMGR", "URC +CDSI")) or not t["response"][0].startswith(("+CMGR", "+CDSI")):
            continue
        lines = [l for l in t["response"] if not l.startswith("+CDSI")]
        m, _ = _modem(lines, pdu_mode="," in lines[0] and '"' not in lines[0].split(",")[0] and len(lines[0].split(",")) <= 3)
        msg = m.read_sms(1)
        want = t["expect"]
        assert msg["number"].replace("+#", "+b") == want["number"]
        if "text" in want:
            assert msg["text"] == want["text"]
        if "reference" in want:
            assert msg["reference"] == want["reference"]
        if "sent" in want:
            assert sms_pdu.iso(msg["time"]) == want["sent"] and sms_pdu.iso(msg["discharge"]) == want["delivered"]
            assert msg["delivered"] is True


def test_given_text_mode_dumps_then_sender_time_and_text_are_read(shared_data):
    want = json.loads((shared_data / "gsm" / "gammu_sms_dumps_summary.json").read_text())["text_mode_expectations_by_helper"]
    for sub in ("at-sms-txt", "at-sms-txt-detail"):
        for p in shared_files("gsm", "gammu_dumps", sub, pattern="*.dump"):
            cmd, raw = _dump(shared_data, f"{sub}/{p.name}")
            msg = Modem(ReplayUart([raw]), pdu_mode=False).read_sms(int(cmd.split("=")[1]))
            assert msg["text"], p.name
            w = want.get(f"{sub}/{p.name}", {})
            if "number" in w:
                assert msg["number"] == w["number"]
            if "da" in w:
                assert msg["number"] == w["da"] and msg["type"] == sms_pdu.SUBMIT
            if "text" in w:
                assert msg["text"] == w["text"]
    tz = Modem(ReplayUart([_dump(shared_data, "at-sms-txt/timezone.dump")[1]]), pdu_mode=False).read_sms(3)
    assert sms_pdu.iso(tz["time"]) == "2007-07-05T09:56:03+02:00"
    s2 = Modem(ReplayUart([_dump(shared_data, "at-sms-txt-detail/sample2.dump")[1]]), pdu_mode=False).read_sms(1)
    assert sms_pdu.iso(s2["time"]) == "2007-02-18T00:05:10+08:00"
    moto = Modem(ReplayUart([_dump(shared_data, "at-sms-txt/motorola-long.dump")[1]]), pdu_mode=False).read_sms(3787)
    assert moto["text"].count("\n") == 3 and moto["time"][:6] == (2009, 8, 18, 19, 11, 45)


def test_given_ussd_transcripts_then_release_notices_are_skipped(shared_data):
    for t in _transcripts(shared_data):
        if t.get("command", "").startswith("AT+CUSD"):
            ok_first = t["response"][0] == "OK"
            lines = t["response"]
            m, uart = _modem(lines if not ok_first else ["OK"])
            if ok_first:
                uart.answers[0] += b"".join(b"\r\n" + l.encode() + b"\r\n" for l in lines[1:])
            r = m.ussd("*101#", timeout_ms=1500)
            assert r["text"] == t["expect"]["text"]
            if "session_active" in t["expect"]:
                assert r["session_active"] is t["expect"]["session_active"]


def test_given_ussd_dumps_then_each_decodes_including_ucs2_and_packed_gsm7(shared_data):
    texts = {}
    for p in shared_files("gsm", "gammu_dumps", "at-ussd", pattern="*.dump"):
        line = p.read_text(encoding="latin-1").strip().splitlines()[0]
        r = parse.ussd(line)
        assert r is not None and r["text"], p.name
        texts[p.name] = r["text"]
    assert texts["04-unknown.dump"].startswith("Maaf, permintaan Anda")
    assert texts["Uissue358-Quectel_M35.dump"].startswith("Havi keret")
    assert texts["issue109-E3276.dump"].startswith("\u0414\u043b\u044f")
    assert texts["01-E160.dump"].startswith("Ihr Guthaben") and texts["02-E160.dump"].endswith("5.78 Euro")


def test_given_cnmi_and_cpms_dumps_then_the_ranges_parse_without_error(shared_data):
    for sub in ("at-cnmi", "at-cpms"):
        for p in shared_files("gsm", "gammu_dumps", sub, pattern="*.dump"):
            cmd, raw = _dump(shared_data, f"{sub}/{p.name}")
            lines = Modem(ReplayUart([raw])).command(cmd)
            assert lines and lines[0].startswith(("+CNMI", "+CPMS")), p.name


def test_given_the_other_quirk_transcripts_then_commands_complete(shared_data):
    for t in _transcripts(shared_data):
        if t.get("command", "") in ("AT+ZPAS?", "AT+CPMS=?") and t["response"][-1] == "OK":
            m, _ = _modem(t["response"])
            assert m.command(t.get("command", ""))[0].startswith("+")


def test_given_garbage_between_lines_then_answers_still_parse():
    uart = ReplayUart([b"\xff\xfe\x00\r\n+CSQ: 21,0\r\n\x80\x81\r\nOK\r\n"])
    m = Modem(uart)
    assert m.signal()["rssi"] == 21 and m.garbage > 0


def test_given_cmqtt_receive_urcs_split_across_chunks_then_topic_and_payload_are_joined(shared_data):
    facts = json.loads((shared_data / "gsm" / "simcom_at_facts.json").read_text())
    seq = facts["items"][1]["facts"]["example_receive_sequence_quoted_in_public_code_comments"]
    got = []
    m = Modem(ReplayUart(unsolicited=b"".join(l.encode() + b"\r\n" for l in seq)))
    m.mqtt_handler = lambda topic, payload: got.append((topic, payload))
    m.poll(50)
    assert got == [("charger/id001/commands", b"test message")]
    got.clear()
    two = (b"+CMQTTRXSTART: 0,3,10\r\n+CMQTTRXTOPIC: 0,3\r\na/b\r\n+CMQTTRXPAYLOAD: 0,6\r\n{\"k\":\r\r\n"
           b"+CMQTTRXPAYLOAD: 0,4\r\n1}\r\n\r\n+CMQTTRXEND: 0\r\n")
    m = Modem(ReplayUart(unsolicited=two))
    m.mqtt_handler = lambda topic, payload: got.append((topic, payload))
    m.poll(50)
    assert got == [("a/b", b'{"k":\r1}\r\n')]


def test_given_a_modem_that_never_answers_then_the_command_times_out_quickly():
    m = Modem(ReplayUart())
    with pytest.raises(AtError) as e:
        m.command("AT", timeout_ms=100)
    assert e.value.kind == "timeout"
    assert m.sync(tries=2, timeout_ms=50) is False


def test_given_cnmi_direct_delivery_then_the_cmt_urc_carries_its_pdu_to_the_handler(shared_data):
    pdu = json.loads((shared_data / "gsm" / "sms_pdu_vectors.json").read_text())["deliver_vectors (test_modem.py::TestSms.setUp)"][0]
    got = []
    m = Modem(ReplayUart(unsolicited=b"\r\n+CMT: ,%d\r\n%s\r\n" % (pdu["tpdu_length"], pdu["pdu_hex"].encode())))
    m.on("+CMT:", got.append)
    m.poll(50)
    header, body = got[0].split("\n")
    assert header == "+CMT: ,29" and sms_pdu.decode(body)["text"] == pdu["expect"]["text"]


def test_given_every_transcript_and_dump_when_replayed_on_micropython_then_results_equal_cpython(shared_data):
    import os
    import subprocess
    import sys

    from tests.support.mpy import run_script
    from tests.support.paths import REPO

    dumps = []
    for sub in ("at-sms", "at-sms-txt", "at-sms-txt-detail", "at-creg", "at-creg-corner", "at-smsc", "at-smsc-failing",
                "at-cnmi", "at-cpms", "at-model"):
        dumps += [str(p) for p in shared_files("gsm", "gammu_dumps", sub, pattern="*.dump")]
    args = [str(shared_data / "gsm" / "at_transcripts.json")] + dumps
    mpy = run_script("tests/gsm/mpy_transcripts.py", *args, timeout=120)
    assert mpy.returncode == 0, mpy.stderr.decode()
    cpy = subprocess.run([sys.executable, "tests/gsm/mpy_transcripts.py", *args], cwd=REPO, capture_output=True,
                         timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert cpy.returncode == 0, cpy.stderr.decode()
    a, b = json.loads(mpy.stdout), json.loads(cpy.stdout)
    assert len(a) == len(b) > 90
    for x, y in zip(a, b):
        assert x == y
    assert ["AT+CSQ", {"rssi": 4, "ber": 0, "dbm": -105}] in a


def test_given_device_or_sim_busy_errors_then_the_command_is_retried_and_succeeds(shared_data):
    busy = [t["response"] for t in _transcripts(shared_data) if t.get("response") in (["+CME ERROR: 515"], ["+CME ERROR: 14"])]
    assert len(busy) == 2
    uart = ReplayUart(frame(busy[0]) + frame(busy[1]) + frame(["+CSQ: 20,0", "OK"]))
    assert Modem(uart).signal()["rssi"] == 20 and len(uart.written) == 3


def test_given_text_mode_and_a_text_gsm7_cannot_carry_then_it_goes_as_ucs2_pdu_and_text_mode_returns(modems, shared_data):
    from fleet_server.sms.serial_uart import SerialUart

    a = modems("+62811000020", "SIM800")
    b = modems("+62811000021", "SIM800")
    m = Modem(SerialUart(a.port), pdu_mode=False)
    m.init()
    assert len(m.send_sms("+62811000021", "Tolong! 火事 — kebakaran di gedung B")) == 1
    assert m.send_sms("+62811000021", "plain text") and a.pdu_mode is False
    assert [c for c in a.commands if c.startswith("AT+CMGF")] == ["AT+CMGF=1", "AT+CMGF=0", "AT+CMGF=1"]
    r = Modem(SerialUart(b.port))
    r.init()
    texts = sorted(msg["text"] for _i, msg in r.list_sms(4))
    assert texts == ["Tolong! 火事 — kebakaran di gedung B", "plain text"]


def test_given_urcs_inside_an_answer_then_handlers_get_them_and_the_answer_is_still_right():
    uart = ReplayUart([b'\r\nRING\r\n\r\n+CREG: 5,"2AF5","0B88E350"\r\n\r\n+CSQ: 10,0\r\n\r\n+CMTI: "SM",3\r\n\r\nOK\r\n'])
    m = Modem(uart)
    seen = []
    for prefix in ("RING", "+CREG:", "+CMTI:"):
        m.on(prefix, seen.append)
    assert m.signal()["rssi"] == 10
    assert seen == ["RING", '+CREG: 5,"2AF5","0B88E350"', '+CMTI: "SM",3']
    assert parse.registration(seen[1], urc=True)["roaming"] is True
