"""Property tests: every message type round-trips through its codec; the decoders, fed arbitrary
bytes and text, only ever return a rejection with a known code (never raise); and the two runtimes
decide identically on a large sample of hostile inputs."""
import json

from hypothesis import given, strategies as st, settings, HealthCheck

from protocols import codec_json, codec_sms, topics
from protocols.rejection import Rejection, CODES
from protocols.replay import ReplayWindow
from protocols.canonical import dump_value
from tests.protocol.strategies import any_message, message
from tests.support.mpy import run_script
from tests.support.paths import REPO

KEY = b"0123456789abcdef"


def _topic(msg):
    return topics.up(msg["dev"], msg["t"]) if msg["t"] in topics.UP_TYPES else topics.down(msg["dev"], msg["t"])


@given(any_message)
def test_json_round_trip_every_type(msg):
    wire = codec_json.encode(msg)
    assert codec_json.decode(wire, _topic(msg)) == msg
    assert codec_json.encode(codec_json.decode(wire)) == wire


@given(message("alarm"))
def test_sms_round_trip_and_fits_one_sms(alarm):
    text = codec_sms.encode_alarm(alarm, KEY)
    assert len(text) <= 160
    assert all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789;-_" for c in text)
    window = ReplayWindow()
    assert codec_sms.decode_alarm(text, lambda d: KEY, lambda d: window) == alarm
    again = codec_sms.decode_alarm(text, lambda d: KEY, lambda d: window)
    assert isinstance(again, Rejection) and again.code == "replayed"


@given(st.binary(max_size=1500), st.text(max_size=80))
def test_json_decoder_on_arbitrary_bytes_only_rejects(data, topic):
    got = codec_json.decode(data, topic)
    assert isinstance(got, (dict, Rejection))
    if isinstance(got, Rejection):
        assert got.code in CODES and got.reason


@given(st.text(max_size=400))
def test_json_decoder_on_arbitrary_text_only_rejects(text):
    got = codec_json.decode(text.encode("utf-8", "surrogatepass"))
    assert isinstance(got, Rejection) and got.code in CODES


@given(st.text(max_size=200))
def test_sms_decoder_on_arbitrary_text_only_rejects(text):
    got = codec_sms.decode_alarm(text, lambda d: KEY, lambda d: ReplayWindow(), 1795377400)
    assert isinstance(got, Rejection) and got.code in CODES and got.reason


@given(st.text(max_size=120))
def test_topic_parser_never_raises(text):
    got = topics.parse(text)
    assert isinstance(got, (tuple, Rejection))


@given(message("alarm"), st.integers(0, 200), st.sampled_from("0123456789ABCDEF;-x"))
def test_any_single_character_change_to_a_signed_sms_is_rejected(alarm, pos, ch):
    text = codec_sms.encode_alarm(alarm, KEY)
    pos %= len(text)
    if text[pos] == ch:
        return
    altered = text[:pos] + ch + text[pos + 1:]
    got = codec_sms.decode_alarm(altered, lambda d: KEY, None)
    assert isinstance(got, Rejection)


def _mutations():
    base = st.sampled_from(sorted(codec_json.FIELDS)).flatmap(message).map(lambda m: codec_json.encode(m).decode())

    @st.composite
    def mutated(draw):
        s = draw(base)
        i = draw(st.integers(0, len(s)))
        j = draw(st.integers(i, min(len(s), i + 8)))
        junk = draw(st.text(alphabet='{}[],:"\\ 0123456789-.eEtrufalsn\x01é', max_size=6))
        return s[:i] + junk + s[j:]
    return st.one_of(mutated(), st.text(alphabet='{}[],:"\\ 01-.eEtruefalsn', max_size=40))


def test_micropython_and_cpython_decide_alike_on_hostile_inputs(tmp_path):
    """2,000 near-valid and broken payloads, decoded on both runtimes: same result for each."""
    samples = []

    @settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
    @given(_mutations())
    def collect(s):
        samples.append(s)

    collect()
    src = tmp_path / "samples.json"
    src.write_text(json.dumps(samples))
    script = tmp_path / "decide.py"
    script.write_text(
        "import json, sys\n"
        "from protocols import codec_json\n"
        "from protocols.canonical import dump_value\n"
        "from protocols.rejection import Rejection\n"
        "for s in json.loads(open(sys.argv[1]).read()):\n"
        "    r = codec_json.decode(s.encode('utf-8'))\n"
        "    print('reject ' + r.code if isinstance(r, Rejection) else 'ok ' + dump_value(r))\n")
    p = run_script(script, str(src), timeout=240)
    assert p.returncode == 0, p.stderr.decode()
    # Split on "\n" only: decoded text may hold U+2028 or \x85, which splitlines() also splits on.
    micro = p.stdout.decode("utf-8").split("\n")[:-1]
    cpy = []
    for s in samples:
        r = codec_json.decode(s.encode("utf-8"))
        cpy.append("reject " + r.code if isinstance(r, Rejection) else "ok " + dump_value(r))
    assert len(micro) == len(cpy) >= 2000
    differ = [(samples[i], cpy[i], micro[i]) for i in range(len(cpy)) if cpy[i] != micro[i]]
    assert not differ, differ[:5]
