"""The gateway's replay windows move from the earlier servers' JSON file into the database
(fleet_server/sms/replay_file.py): imported once at start and the file retired, replays the file
remembered stay rejected, a re-import merges instead of forgetting, and a bad file or entry is
reported with its reason without losing the rest. A store that fails to save loses no SOS."""
from __future__ import annotations

import json
import logging
import time

import pytest

from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
from fleet_server.sms.replay_file import import_replay_file, merge
from fleet_server.storage.db import Database
from fleet_server.storage.sms_replay import DatabaseReplayStore
from protocols import codec_sms
from tests.gsm.conftest import CENTER, KEYS, wait_until

DEV, DEV2 = "btn-bdg-0001", "btn-bdg-0002"
SENDER = "+62811000001"
# What the earlier server's file held after seqs 78 and 80 of boot 3 (and seq 4 of DEV2's boot 1).
EARLIER_FILE = {DEV: [3, 80, 0b101], DEV2: [1, 4, 1]}


def alarm(seq: int, boot: int = 3, dev: str = DEV) -> dict:
    return {"v": 1, "t": "alarm", "dev": dev, "boot": boot, "seq": seq, "ts": int(time.time()) - 5,
            "cat": "medical", "trig": "button", "presses": 1, "lat": -6914744, "lon": 107609810,
            "src": "fixed", "acc": 5, "age": 0}


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    try:
        yield d
    finally:
        d.dispose()


def fields(caplog, message: str) -> list[dict]:
    return [r.fields for r in caplog.records if r.getMessage() == message]


def test_given_an_earlier_servers_replay_file_when_the_gateway_starts_then_it_is_imported_once_and_its_sos_stay_replays(
        tmp_path, db, modems, sink, sms_network, caplog):
    path = tmp_path / "sms_replay.json"
    path.write_text(json.dumps(EARLIER_FILE))
    store = DatabaseReplayStore(db)
    caplog.set_level(logging.INFO, logger="siaga.sms")

    result = import_replay_file(path, store)

    retired = tmp_path / "sms_replay.json.imported"
    assert result == {"imported": 2, "skipped": 0, "retired": retired}
    assert not path.exists() and json.loads(retired.read_text()) == EARLIER_FILE
    assert fields(caplog, "SMS replay windows imported into the database; file retired") == [
        {"imported": 2, "skipped": 0, "retired": str(retired)}]
    assert import_replay_file(path, store) is None  # the next start: nothing left to import

    center = modems(CENTER, "SIM800")
    gw = SmsGateway(center.port, sink, KEYS.get, DatabaseReplayStore(db), sweep_s=2.0, backoff_min_s=0.05)
    gw.start()
    try:
        assert gw.connected.wait(10)
        for seq in (78, 79, 80):
            sms_network.send_from(SENDER, CENTER, codec_sms.encode_alarm(alarm(seq), KEYS[DEV]))
        sms_network.send_from(SENDER, CENTER, codec_sms.encode_alarm(alarm(4, boot=1, dev=DEV2), KEYS[DEV2]))
        assert len(sink.wait("rejected", 3)) == 3
        assert [(a["dev"], a["seq"]) for a, _via, _m in sink.wait("alarms", 1)] == [(DEV, 79)]
        assert sorted((r.code, r.reason) for r, _k, _m in sink.rejected) == [
            ("replayed", "seq 4 of boot 1 was already received"),
            ("replayed", "seq 78 of boot 3 was already received"),
            ("replayed", "seq 80 of boot 3 was already received")]
        assert wait_until(lambda: store.load(DEV) == (3, 80, 0b111), 10)
    finally:
        gw.stop()
    assert len(sink.alarms) == 1


def test_given_an_import_that_died_before_the_rename_when_imported_again_then_nothing_is_forgotten(tmp_path):
    """The database already holds the file's windows, and one of them advanced since."""
    path = tmp_path / "sms_replay.json"
    path.write_text(json.dumps(EARLIER_FILE))
    store = MemoryReplayStore()
    store.save(DEV, (3, 90, 1))          # seq 90 taken after the first import
    store.save(DEV2, (2, 0, 1))          # DEV2 rebooted: boot 1 is over
    assert import_replay_file(path, store)["imported"] == 2
    assert store.load(DEV) == (3, 90, 1 | 1 << 10 | 1 << 12)
    assert store.load(DEV2) == (2, 0, 1)


@pytest.mark.parametrize("current, other, merged", [
    (None, (3, 80, 5), (3, 80, 5)),
    ((3, 80, 5), (3, 80, 5), (3, 80, 5)),
    ((3, 70, 1), (3, 80, 5), (3, 80, 5 | 1 << 10)),
    ((2, 500, 1), (3, 80, 5), (3, 80, 5)),
    ((3, 200, 1), (3, 80, 5), (3, 200, 1)),       # the file's seqs fell out of the window: too old anyway
    ((3, 80, 5), (-1, -1, 0), (3, 80, 5)),
])
def test_merged_windows_have_seen_what_either_saw(current, other, merged):
    assert merge(current, other) == merged


@pytest.mark.parametrize("content, reason", [
    ("{\"btn-bdg-0001\": [3, 80", "Expecting"),
    ("[[3, 80, 5]]", "not a JSON object of device windows but list"),
    (b"\xff\xfe\x00", "codec can't decode"),
])
def test_given_an_unreadable_file_then_it_stays_in_place_with_an_error_and_nothing_is_imported(tmp_path, caplog, content, reason):
    path = tmp_path / "sms_replay.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    store = MemoryReplayStore()
    assert import_replay_file(path, store) is None
    assert path.exists() and not store.states
    (logged,) = fields(caplog, "SMS replay-window file unreadable: left in place, nothing imported")
    assert logged["path"] == str(path) and reason in logged["reason"]
    assert [r.levelname for r in caplog.records] == ["ERROR"]


def test_given_entries_that_are_not_windows_then_each_is_skipped_with_its_reason_and_the_rest_imported(tmp_path, caplog):
    path = tmp_path / "sms_replay.json"
    path.write_text(json.dumps({"": [1, 2, 3], "btn-a": [1, 2], "btn-b": [1, 2, -5], "btn-c": [True, 1, 1],
                                "btn-d": [1, 2, 1 << 64], "x" * 33: [1, 1, 1], DEV: [3, 80, 5]}))
    store = MemoryReplayStore()
    assert import_replay_file(path, store)["skipped"] == 6
    assert store.states == {DEV: (3, 80, 5)}
    reasons = {f["dev"]: f["reason"] for f in fields(caplog, "SMS replay window skipped")}
    assert reasons == {"": "device id must be 1-32 characters",
                       "btn-a": "window must be [boot, top, mask] integers, got [1, 2]",
                       "btn-b": "window [1, 2, -5] out of range",
                       "btn-c": "window must be [boot, top, mask] integers, got [true, 1, 1]",
                       "btn-d": "window [1, 2, 18446744073709551616] out of range",
                       "x" * 32: "device id must be 1-32 characters"}
    assert not path.exists()


class FailingStore(MemoryReplayStore):
    def save(self, device_id, state):
        raise RuntimeError("database unavailable")


def test_given_a_replay_store_that_cannot_save_then_the_sos_is_still_taken_and_the_failure_logged(modems, sink, sms_network, caplog):
    center = modems(CENTER, "SIM800")
    gw = SmsGateway(center.port, sink, KEYS.get, FailingStore(), sweep_s=2.0, backoff_min_s=0.05)
    gw.start()
    try:
        assert gw.connected.wait(10)
        sms_network.send_from(SENDER, CENTER, codec_sms.encode_alarm(alarm(12), KEYS[DEV]))
        assert [(a["dev"], a["seq"]) for a, _v, _m in sink.wait("alarms", 1)] == [(DEV, 12)]
        assert wait_until(lambda: gw.stats["replay_save_errors"] == 1, 10)
        assert wait_until(lambda: not center.storage, 10), "the taken SOS was not deleted from the modem"
        sms_network.send_from(SENDER, CENTER, codec_sms.encode_alarm(alarm(12), KEYS[DEV]))
        (r, _k, _m), = sink.wait("rejected", 1)  # the window still holds in memory
        assert r.code == "replayed"
    finally:
        gw.stop()
    (logged,) = fields(caplog, "replay window not saved")
    assert logged["dev"] == DEV and "database unavailable" in logged["reason"]
