"""The firmware's NMEA 0183 parser (protocols/nmea/parse.py), specified by real receiver captures
(gpsd's regression logs with gpsd's own decoded output) and pynmea2's test vectors, and run on
both runtimes: the same replay script runs under CPython and the real MicroPython binary and
their outputs must be identical."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
import json
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from protocols.nmea import parse as nmea
from protocols.rejection import Rejection
from tests.support.mpy import run_code
from tests.support.paths import REPO, SHARED_DATA, shared_files, shared_names

GPSD = SHARED_DATA / "nmea" / "gpsd"
LOGS = shared_names("nmea", "gpsd", pattern="*.log")

# One script, two runtimes. It replays every capture (header lines skipped) line by line through
# parse_sentence and as a byte stream in uneven chunks through NmeaReader + EpochAssembler, and
# prints one JSON document. Rejections print as their code and reason.
REPLAY = r"""
import gc
import json
from protocols.nmea import parse as nmea

def show(r):
    if type(r) is dict:
        return r
    return {"rej": r.code, "why": r.reason}

# One JSON record per line of output, nothing kept: the unix port's default heap is small.
def emit(kind, name, value):
    print(json.dumps([kind, name, value]))

for name in NAMES:
    raw = open(DIR + "/" + name, "rb").read()
    data = []
    for l in raw.split(b"\n"):
        l = l[:-1] if l.endswith(b"\r") else l
        if l and not l.startswith(b"#"):
            data.append(l)
            emit("line", name, show(nmea.parse_sentence(l)))
    stream = b"\r\n".join(data) + b"\r\n"
    raw = data = None
    reader = nmea.NmeaReader()
    asm = nmea.EpochAssembler()
    i, k = 0, 0
    while i < len(stream):
        step = 1 + (k * 7) % 13
        for r in reader.feed(stream[i:i + step]):
            emit("stream", name, show(r))
            f = asm.feed(r)
            if f:
                emit("fix", name, f)
        i += step
        k += 1
    f = asm.flush()
    if f:
        emit("fix", name, f)
    emit("nofix", name, asm.nofix)
    gc.collect()
"""


def _replay_code(names: list[str]) -> str:
    return "NAMES = %r\nDIR = %r\n" % (names, str(GPSD)) + REPLAY


@pytest.fixture(scope="module")
def replays() -> dict:
    """The replay of every capture on CPython and on MicroPython (run once for this module)."""
    shared_files("nmea", "gpsd", pattern="*.log")  # fails here, naming the path, when they are missing
    code = _replay_code(LOGS)
    cpy = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=120)
    assert cpy.returncode == 0, cpy.stderr.decode()
    mpy = run_code(code, timeout=120)
    assert mpy.returncode == 0, mpy.stderr.decode()
    out = {}
    for runtime, proc in (("cpython", cpy), ("micropython", mpy)):
        files = out[runtime] = {}
        for line in proc.stdout.splitlines():
            kind, name, value = json.loads(line)
            doc = files.setdefault(name, {"lines": [], "stream": [], "fixes": [], "nofix": None})
            if kind == "nofix":
                doc["nofix"] = value
            else:
                doc[{"line": "lines", "stream": "stream", "fix": "fixes"}[kind]].append(value)
    return out


def _facts(shared_data) -> dict:
    return json.loads((shared_data / "nmea" / "gpsd" / "EXPECTED_FACTS.json").read_text())["files"]


def _micro(degrees: float) -> int:
    """Decimal degrees -> microdegrees, halves away from zero (Python's round() would go to even:
    neo-m8n's 44.0690105 must be 44069011)."""
    return int(Decimal(repr(degrees)).scaleb(6).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _chk_timed_fixes(name: str) -> list[dict]:
    """gpsd's own TPV records with a fix (mode >= 2) and a time, from the .chk file."""
    out = []
    for line in (GPSD / (name + ".chk")).read_text().splitlines():
        if line.startswith('{"class":"TPV"'):
            tpv = json.loads(line)
            if tpv.get("mode", 0) >= 2 and "time" in tpv and "lat" in tpv:
                out.append(tpv)
    return out


def test_given_every_gpsd_capture_when_replayed_then_cpython_and_micropython_agree_exactly(replays):
    """Same lines, same stream results, same fixes, same reasons, byte for byte in JSON."""
    assert sorted(replays["cpython"]) == LOGS and len(LOGS) == 10
    for name in LOGS:
        assert replays["micropython"][name] == replays["cpython"][name], name


@pytest.mark.parametrize("name", LOGS)
def test_given_a_gpsd_capture_when_each_line_is_parsed_then_counts_match_the_facts(name, replays, shared_data):
    """Good / bad-checksum / malformed line counts, counts per sentence type, RMC status A and
    GGA quality > 0 all equal EXPECTED_FACTS.json. A proprietary sentence without checksum is
    accepted (cs False) but counts with the malformed-or-no-checksum lines, as the facts do."""
    facts = _facts(shared_data)[name]
    lines = replays["micropython"][name]["lines"]
    ok = [r for r in lines if "rej" not in r and r["cs"]]
    bad = [r for r in lines if r.get("rej") == nmea.BAD_CHECKSUM]
    other = len(lines) - len(ok) - len(bad)
    assert (len(ok), len(bad), other) == (
        facts["lines_checksum_ok"], facts["lines_checksum_bad"], facts["lines_malformed_or_no_checksum"])
    types: dict[str, int] = {}
    for r in ok:
        types[r["type"]] = types.get(r["type"], 0) + 1
    assert types == facts["valid_sentence_types"]
    assert sum(1 for r in ok if r["type"] == "RMC" and r["status"] == "A") == facts["rmc_status_A"]
    assert sum(1 for r in ok if r["type"] == "GGA" and r["fixq"]) == facts["gga_quality_gt0"]
    for r in lines:
        if "rej" in r:
            assert r["rej"] in ("bad_checksum", "bad_format", "truncated", "oversize", "bad_value") and r["why"]


@pytest.mark.parametrize("name", LOGS)
def test_given_a_gpsd_capture_when_streamed_then_every_gpsd_timed_fix_is_ours_to_a_microdegree(name, replays):
    """Each gpsd TPV with a fix and a time has an assembled fix of the same time of day whose
    lat/lon agree to 1e-6 degrees, and whose Unix time is gpsd's — except neo-m8n, where gpsd
    applied its GPS-week-rollover correction (2034-11-01) and we keep the RMC date 2015-03-18."""
    fixes = replays["micropython"][name]["fixes"]
    by_tod = {(f["ts"] % 86400) * 1000 + f["ms"]: f for f in fixes if f["ts"] is not None}
    gpsd = _chk_timed_fixes(name)
    for tpv in gpsd:
        t = dt.datetime.fromisoformat(tpv["time"].replace("Z", "+00:00"))
        tod = ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000
        ours = by_tod.get(tod)
        assert ours is not None, f"no fix at gpsd's {tpv['time']}"
        assert abs(ours["lat"] / 1e6 - tpv["lat"]) <= 1e-6 and abs(ours["lon"] / 1e6 - tpv["lon"]) <= 1e-6
        if name == "neo-m8n.log":
            assert dt.datetime.fromtimestamp(ours["ts"], dt.timezone.utc).date() == dt.date(2015, 3, 18)
        else:
            assert ours["ts"] == int(t.timestamp())
    if name == "ublox-lea-5q.log":
        assert fixes == [] and replays["micropython"][name]["nofix"] >= 9 and gpsd == []  # 9 RMC V epochs
    else:
        assert gpsd, "every capture but the no-fix one has gpsd fixes to compare"


@pytest.mark.parametrize("name", LOGS)
def test_given_a_gpsd_capture_then_first_and_last_rmc_fixes_match_the_facts(name, replays, shared_data):
    facts = _facts(shared_data)[name]
    fixes = [f for f in replays["micropython"][name]["fixes"] if f["ts"] is not None]
    if facts["first_rmc_fix"] is None:
        assert fixes == []
        return
    for key, fix in (("first_rmc_fix", None), ("last_rmc_fix", None)):
        want = facts[key]
        hh, mm, ss = int(want["time"][0:2]), int(want["time"][2:4]), int(want["time"][4:6])
        d, m, y = int(want["date"][0:2]), int(want["date"][2:4]), 2000 + int(want["date"][4:6])
        ts = int(dt.datetime(y, m, d, hh, mm, ss, tzinfo=dt.timezone.utc).timestamp())
        fix = next(f for f in fixes if f["ts"] == ts)
        assert (fix["lat"], fix["lon"]) == (_micro(want["lat"]), _micro(want["lon"])), key


def test_given_the_fuzzy_cases_then_8_decimal_minutes_round_half_away_from_zero(replays):
    """4134.49821229 N = 41 + 34.49821229/60 = 41.5749702048333 -> 41574970; 09345.03351845 W
    = -93.7505586408333 -> -93750559 (away from zero). Integer arithmetic, no float traps."""
    first = replays["micropython"]["nmea-fuzzy-cases.log"]["fixes"][0]
    assert (first["lat"], first["lon"], first["ms"]) == (41574970, -93750559, 600)
    assert first["fixq"] == 2 and first["hdop"] is not None and first["acc"] == nmea.acc_from_hdop(first["hdop"])


def test_given_the_cold_boot_capture_when_streamed_then_glued_sentences_are_recovered_and_noise_rejected(replays):
    """The stream reader splits glued sentences at '$' and keeps a part only if its own checksum
    proves it complete; NUL-filled and cut sentences come back as rejections with reasons."""
    r = replays["micropython"]["gp-320fw-2019-04-07-coldboot.log"]
    good_lines = sum(1 for x in r["lines"] if "rej" not in x)
    good_stream = sum(1 for x in r["stream"] if "rej" not in x)
    assert good_stream > good_lines
    reasons = {x["why"] for x in r["stream"] if "rej" in x}
    assert any("not printable" in w for w in reasons)
    assert any(x.get("rej") == "truncated" for x in r["stream"])
    # Only one epoch in the whole capture had a fix with a date: 2019-04-07 00:03:45.03.
    dated = [f for f in r["fixes"] if f["ts"] is not None]
    assert [(f["ts"], f["ms"]) for f in dated] == [(1554595425, 30)]


def test_given_the_unterminated_gga_of_triton400_then_the_next_sentence_survives(replays):
    r = replays["micropython"]["triton400.log"]
    assert [x["rej"] for x in r["stream"] if "rej" in x] == ["truncated"]
    assert sum(1 for x in r["stream"] if "rej" not in x) == 28


# --- pynmea2's vectors -------------------------------------------------------------------

def _vectors(shared_data) -> dict:
    return json.loads((shared_data / "nmea" / "pynmea2_vectors.json").read_text())


# Where we deliberately differ from pynmea2, and why (each is asserted below, not skipped):
DEVIATIONS = {
    # A standard sentence without checksum is refused (noise-cut lines look exactly like that).
    "test_ZDA": "bad_format", "test_fail_2": "bad_format", "test_query": "bad_format",
    # A sentence must start with '$' (or '!'): a UART reader cannot tell a line start otherwise.
    "test_dollar": "bad_format", "test_whitespace": "bad_format",
}
# RMC nav status (NMEA 4.1 field 13) is ignored: gpsd uses the Quectel EG25-G's fixes that carry
# 'V' there, so we follow gpsd; pynmea2 calls these two invalid.
NAV_STATUS_IGNORED = {"test_RMC_valid[13]", "test_RMC_valid[14]"}


def test_given_pynmea2_vectors_when_parsed_on_both_runtimes_then_results_are_identical(shared_data):
    sentences = [v["sentence"] for v in _vectors(shared_data)["vectors"]]
    code = ("import json\nfrom protocols.nmea import parse as nmea\nS = %r\n" % sentences) + (
        "print(json.dumps([r if type(r) is dict else {'rej': r.code, 'why': r.reason}"
        " for r in [nmea.parse_sentence(s.strip('\\r\\n')) for s in S]]))")
    mpy = run_code(code, timeout=60)
    assert mpy.returncode == 0, mpy.stderr.decode()
    cpy = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60)
    assert json.loads(mpy.stdout) == json.loads(cpy.stdout)


def _parse(sentence: str):
    return nmea.parse_sentence(sentence.strip("\r\n"))


def test_given_pynmea2_vectors_then_values_and_verdicts_match_pynmea2_or_a_documented_deviation(shared_data):
    checked = 0
    for v in _vectors(shared_data)["vectors"]:
        r, name, exp = _parse(v["sentence"]), v["test"], v["expect"]
        if name in DEVIATIONS:
            assert isinstance(r, Rejection) and r.code == DEVIATIONS[name] and r.reason, name
        elif v["kind"] == "error" or v["checksum_present_and_valid"] is False:
            assert isinstance(r, Rejection) and r.reason, name
        elif v["checksum_present_and_valid"] is None and not v["sentence"].startswith("$P"):
            assert isinstance(r, Rejection) and "no checksum" in r.reason, name
        else:
            assert isinstance(r, dict), (name, r)
            if "latitude" in exp and r.get("lat") is not None:
                assert r["lat"] == _micro(exp["latitude"]), name
            if "longitude" in exp and r.get("lon") is not None:
                assert r["lon"] == _micro(exp["longitude"]), name
            if name.startswith("test_RMC_valid") and name not in NAV_STATUS_IGNORED:
                assert r["fix"] is exp["is_valid"], name
            if name in NAV_STATUS_IGNORED:
                assert r["fix"] is True and exp["is_valid"] is False
        checked += 1
    assert checked == 72


def test_given_pynmea2_gga_then_every_field_is_an_integer_in_protocol_units():
    r = _parse("$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D")
    assert r == {"talker": "GP", "type": "GGA", "cs": True, "tod": (18 * 3600 + 43 * 60 + 53) * 1000 + 70,
                 "lat": -19484083, "lon": 24175100, "fixq": 1, "sats": 4, "hdop": 26, "alt": 1000, "fix": True}


def test_given_pynmea2_rmc_then_date_and_time_give_the_asserted_unix_second():
    r = _parse("$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68")
    asm = nmea.EpochAssembler()
    asm.feed(r)
    fix = asm.flush()
    want = dt.datetime(1994, 11, 19, 22, 54, 46, tzinfo=dt.timezone.utc)
    assert fix["ts"] == int(want.timestamp()) and (fix["lat"], fix["lon"]) == (49274167, -123185333)
    assert fix["spd"] == 26 and fix["hdg"] == 55   # 0.5 kn = 25.7 cm/s; 54.7 deg -> 55


def test_given_pynmea2_utility_vectors_then_minutes_and_timestamps_agree(shared_data):
    for u in _vectors(shared_data)["utility_vectors"]:
        if u["fn"] == "nmea_utils.timestamp":
            ms = nmea._time_of_day(u["input"])
            want = u.get("microsecond", 0) // 1000
            assert ms % 1000 == want and ms // 1000 == 11 * 3600 + 59 * 60 + 19
        elif u["fn"] == "nmea_utils.dm_to_sd" and u["input"] != "0":
            # pynmea2 takes bare minutes text; ours must be dddmm.m, so pad the degrees.
            assert nmea._coord(u["input"].rjust(7, "0"), "E", 3, 180000000, "lon") == _micro(u["output"])


def test_given_the_no_fix_file_from_pynmea2_then_no_fix_is_made_although_lat_lon_are_filled(shared_data):
    multi = _vectors(shared_data)["multi_sentence"][0]
    reader, asm = nmea.NmeaReader(), nmea.EpochAssembler()
    fixes = [f for s in reader.feed(multi["text"].encode() + b"\n") if (f := asm.feed(s))]
    if (f := asm.flush()):
        fixes.append(f)
    assert reader.stats == {"ok": 10, "rejected": 0} and fixes == [] and asm.nofix > 0


def test_given_garbage_between_sentences_then_it_is_one_rejection_and_the_sentences_parse(shared_data):
    text = _vectors(shared_data)["multi_sentence"][2]["text"].encode()
    results = nmea.NmeaReader().feed(text)
    rejected = [r for r in results if isinstance(r, Rejection)]
    parsed = [r for r in results if isinstance(r, dict)]
    # GGA, RTE, R00 and MWV have good checksums; "foobar" is noise outside any sentence.
    assert len(parsed) == 4 and [r.code for r in rejected] == ["bad_format"] and "noise" in rejected[0].reason


# --- framing properties ------------------------------------------------------------------

_SAMPLE = (b"\x00\x00$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D\r\n"
           b"$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68\n"
           b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E$GPVTG,108.53,T,,M,0.04,N,0.07,K,A*31\r"
           b"junk\r\n$GPGGA,0301$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*00\r\n")


def _summary(results):
    return [r.code if isinstance(r, Rejection) else (r["type"], r.get("lat")) for r in results]


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_given_any_chunking_of_a_stream_then_the_reader_returns_the_same_sentences(cuts):
    whole = _summary(nmea.NmeaReader().feed(_SAMPLE))
    reader, got, i, k = nmea.NmeaReader(), [], 0, 0
    while i < len(_SAMPLE):
        step = cuts[k % len(cuts)]
        got += reader.feed(_SAMPLE[i:i + step])
        i, k = i + step, k + 1
    assert _summary(got) == whole
    assert whole == [("GGA", -19484083), ("RMC", 49274167), ("GSA", None), ("VTG", None),
                     "bad_format", "truncated", "bad_checksum"]


@given(st.binary(max_size=400))
def test_given_arbitrary_bytes_then_the_reader_never_raises_and_keeps_its_buffer_bounded(data):
    reader = nmea.NmeaReader()
    for r in reader.feed(data) + reader.feed(b"$" + data) + reader.feed(data + b"\r\n"):
        assert isinstance(r, (dict, Rejection))
    assert len(reader._buf) <= nmea.MAX_SENTENCE + 1


@given(st.text(alphabet="0123456789.,-NSEWAV*$GPRMCGA", max_size=90))
def test_given_arbitrary_sentence_text_then_parse_returns_a_dict_or_a_reason(body):
    line = "$GPRMC," + body
    cs = 0
    for ch in line[1:]:
        cs ^= ord(ch)
    for candidate in (line, "%s*%02X" % (line, cs)):
        r = nmea.parse_sentence(candidate)
        assert isinstance(r, dict) or (isinstance(r, Rejection) and r.reason)


def test_given_a_sentence_longer_than_the_limit_without_line_end_then_it_is_dropped_as_oversize():
    reader = nmea.NmeaReader()
    results = reader.feed(b"$GPGSV," + b"1" * (nmea.MAX_SENTENCE + 10))
    assert [r.code for r in results] == ["oversize"]
    assert reader.feed(b"\r\n$GPVTG,108.53,T,,M,0.04,N,0.07,K,A*31\r\n")[-1]["hdg"] == 109


def test_given_noise_in_the_checksum_digits_then_a_rejection_not_an_exception():
    """Found by hypothesis: '*' followed by two non-ASCII bytes crashed the decode of the digits."""
    from protocols.nmea.parse import parse_sentence
    from protocols.rejection import Rejection
    for raw in (b"$GPGGA,1*\x00\x80", b"$GPRMC*\xff\xfe", b"$GPGGA*\x80A"):
        got = parse_sentence(raw)
        assert isinstance(got, Rejection) and got.code == "bad_format", (raw, got)
