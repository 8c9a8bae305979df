"""The JSON codec's CPython fast path (orjson, a compiled text check) gives exactly the portable
path's answer (the one MicroPython runs): the same message, or the same rejection and reason,
on every golden vector, on every cut and on every one-byte change of them, and on the texts
where orjson and the standard parser disagree."""
import json
from binascii import unhexlify

import orjson
import pytest

from protocols import codec_json
from tests.support.paths import REPO

VECTORS = json.loads((REPO / "protocols" / "vectors" / "json.json").read_text())["vectors"]
DISAGREE = [  # orjson refuses, or reads differently, what json.loads reads
    '{"v":1,"t":"pos","dev":"trk-1","boot":1,"seq":123456789012345678901234567890,"ts":1,"lat":0,"lon":0}',
    '{"v":1,"t":"pos","dev":"trk-1","boot":1,"seq":-9223372036854775809,"ts":1,"lat":0,"lon":0}',
    '{"v":1,"t":"pos","dev":"trk-1","boot":1,"seq":1e400,"ts":1,"lat":0,"lon":0}',
    '{"v":1.0,"t":"pos","dev":"trk-1","boot":1,"seq":1,"ts":1,"lat":0,"lon":0}',
    '{"v":1,"t":"health","dev":"btn-1","boot":1,"fw":"\\ud800","ts":1}',
    '{"v":1,"t":"alarm","dev":"btn-1","x":NaN}',
    '{"v":1,"t":"alarm","dev":"btn-1","x":' + "[" * 2000 + "]" * 2000 + "}",
]


def _payloads():
    for v in VECTORS:
        p = unhexlify(v["payload_hex"]) if "payload_hex" in v else v["payload"].encode("utf-8")
        yield v["topic"], p
        for cut in range(1, len(p)):
            yield v["topic"], p[:cut]
        for i in range(0, len(p), 3):
            for b in (0x00, 0x22, 0x31, 0x7D, 0xFF):
                yield v["topic"], p[:i] + bytes([b]) + p[i + 1:]
    for text in DISAGREE:
        yield None, text.encode("utf-8")


def _answer(msg):
    return ("reject", msg.code, msg.reason) if isinstance(msg, codec_json.Rejection) else ("ok", msg)


@pytest.fixture
def portable(monkeypatch):
    def decode(payload, topic):
        with monkeypatch.context() as m:
            m.setattr(codec_json, "_fast_loads", None)
            m.setattr(codec_json, "_bad_text", None)
            return codec_json.decode(payload, topic)
    return decode


def test_given_cpython_then_the_codec_decodes_with_orjson():
    assert codec_json._fast_loads is orjson.loads and codec_json._bad_text is not None


def test_given_any_vector_cut_or_changed_then_the_fast_path_answers_as_the_portable_one(portable):
    n = 0
    for topic, payload in _payloads():
        assert _answer(codec_json.decode(payload, topic)) == _answer(portable(payload, topic)), (topic, payload)
        n += 1
    assert n > 5000
