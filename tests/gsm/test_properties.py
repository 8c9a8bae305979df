"""Properties of the GSM code under hypothesis: the PDU codec round-trips any text, decoders give a
reason (never a crash) for any bytes, and the driver survives any byte stream from a modem."""
from __future__ import annotations

from hypothesis import given, strategies as st

from protocols.at import parse as modem_parse
from protocols.sms import pdu as sms_pdu
from protocols.at.modem import AtError, Modem
from fleet_server.sms import aml
from protocols.rejection import Rejection
from tests.gsm.replay import ReplayUart

GSM_TEXT = st.text(alphabet=st.sampled_from(sorted(set(sms_pdu.GSM7) - {"\x1b"}) + list("[]{}~^|\\€")), max_size=480)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
NUMBERS = st.one_of(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), st.from_regex(r"0[0-9]{5,11}", fullmatch=True))


@given(number=NUMBERS, text=st.one_of(GSM_TEXT, ANY_TEXT), ref=st.integers(0, 255))
def test_any_text_encoded_as_submit_parts_decodes_and_reassembles_to_itself(number, text, ref):
    parts = sms_pdu.encode_submit(number, text, ref)
    r = sms_pdu.Reassembly()
    whole = None
    for pdu, n in reversed(parts):
        msg = sms_pdu.decode(pdu)
        assert msg["type"] == sms_pdu.SUBMIT and msg["number"] == number and msg["tpdu_length"] == n
        assert n <= 140 + 13 + len(number)
        whole = r.add(msg, 0)
    assert whole is not None and whole["text"] == text
    assert len(parts) == 1 or r.pending() == 0


@given(sender=st.one_of(NUMBERS, st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}", fullmatch=True)), text=GSM_TEXT,
       t=st.integers(946684800, 3124137599), q=st.integers(-48, 56), ref=st.integers(0, 65535))
def test_deliver_parts_carry_sender_time_and_text(sender, text, t, q, ref):
    scts = sms_pdu.from_unix(t, q)  # two-digit SCTS years: 2000..2069 here (1970..1999 for older captures)
    r = sms_pdu.Reassembly()
    whole = None
    for pdu, _n in sms_pdu.encode_deliver_parts(sender, text, scts, ref, "+6281100000"):
        msg = sms_pdu.decode(pdu)
        assert msg["number"] == sender and sms_pdu.unix_seconds(msg["time"]) == t and msg["smsc"] == "+6281100000"
        whole = r.add(msg, 0)
    assert whole["text"] == text


@given(st.binary(max_size=200))
def test_any_bytes_as_a_pdu_decode_or_fail_with_a_pdu_error(data):
    try:
        msg = sms_pdu.decode(data)
    except sms_pdu.PduError as e:
        assert str(e)
    else:
        assert msg["type"] in (sms_pdu.DELIVER, sms_pdu.SUBMIT, sms_pdu.STATUS_REPORT)


@given(st.one_of(ANY_TEXT, st.builds(lambda s: 'A"ML=1;' + s, ANY_TEXT)))
def test_any_text_as_aml_parses_or_is_rejected_with_a_reason(text):
    r = aml.parse(text)
    assert isinstance(r, dict) or (isinstance(r, Rejection) and r.reason)


@given(st.lists(st.binary(max_size=40), max_size=12))
def test_any_bytes_from_a_modem_give_an_answer_or_an_at_error_never_a_crash(chunks):
    m = Modem(ReplayUart([b"".join(chunks) + b"\r\nOK\r\n"], unsolicited=b"".join(chunks[:2])))
    try:
        m.signal()
    except AtError as e:
        assert e.kind in ("bad_response", "error", "cme", "cms", "not_supported", "no_carrier", "timeout")
    m.poll(0)


@given(ANY_TEXT)
def test_any_line_given_to_the_parsers_returns_a_value_or_none(line):
    for fn in (modem_parse.registration, modem_parse.signal, modem_parse.operator, modem_parse.smsc,
               modem_parse.ussd, modem_parse.cmti, modem_parse.text_time):
        fn(line)
    modem_parse.registration("+CREG: " + line)
    modem_parse.ussd("+CUSD: " + line)
    modem_parse.signal("+CSQ: " + line)
