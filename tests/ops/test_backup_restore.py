"""`siaga backup` / `siaga restore` / `siaga db upgrade` on real parts: a real fleet server process
ingesting alarms from buttons on a real Mosquitto while the backup is taken, on SQLite and on
PostgreSQL. The restored database must hold every alarm the server had acked (an ack follows the
commit) before the backup began, open at head, and a server must start on it."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fleet_server.storage.db import head_revision
from protocols import codec_json
from tests.conftest import OBSERVER_PASS, OBSERVER_USER
from tests.server.test_ingest_e2e import Device, _register
from tests.support.mqtt import Recorder
from tests.support.server import FleetServer

REPO = Path(__file__).resolve().parents[2]
DEVICES = ("btn-alun-alun", "btn-dago", "btn-gedung-sate")


def siaga(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fleet_server.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SIAGA_CONFIG": "/nonexistent.toml", **(env or {})})


def _url(request, tmp_path: Path, name: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / name / 'siaga.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request):
    return request


def _alarms(url: str) -> set[tuple[str, int]]:
    e = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with e.connect() as c:
            return {(d, s) for d, s in c.execute(text("SELECT device_id, seq FROM alarms"))}
    finally:
        e.dispose()


def _acked(observer) -> set[tuple[str, int]]:
    acks = observer.matching(lambda m: m.topic.endswith("/ack"))
    return {(a["dev"], a["seq"]) for a in (codec_json.decode(m.payload, m.topic) for m in acks)}


def test_given_a_server_ingesting_when_backed_up_then_the_restored_database_holds_every_acked_alarm_and_serves(
        engine_name, broker, tmp_path):
    source_url = _url(engine_name, tmp_path, "live")
    srv = FleetServer(tmp_path / "server", broker, database_url=source_url).start()
    observer = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS, topics=("siaga/v1/dev/+/down/ack",))
    buttons = []
    stop = threading.Event()
    sent: set[tuple[str, int]] = set()
    try:
        for dev in DEVICES:
            _register(srv, dev)
            buttons.append(Device(broker, dev))

        def press():   # each button keeps sending alarms until told to stop (bounded: 2,000 each)
            for seq in range(1, 2001):
                for b in buttons:
                    if stop.is_set():
                        return
                    b.send(b.alarm(seq))
                    sent.add((b.id, seq))

        publisher = threading.Thread(target=press, daemon=True)
        publisher.start()
        assert len(observer.wait_for(lambda m: True, count=30, timeout=60)) >= 30, srv.output()[-2000:]

        before = _acked(observer)          # committed: each was acked, and the ack follows the commit
        backup = tmp_path / "backups" / "siaga.backup"
        backup.parent.mkdir()
        done = siaga("backup", str(backup), "--database", source_url)
        assert done.returncode == 0, done.stderr
        assert f"revision {head_revision()}" in done.stdout
        # The server went on ingesting while and after the copy was taken.
        more = observer.wait_for(lambda m: True, count=len(before) + 30, timeout=60)
        assert len(_acked_set(more)) > len(before)
        stop.set()
        publisher.join(30)
        assert not publisher.is_alive()
    finally:
        stop.set()
        observer.close()
        for b in buttons:
            b.close()
        srv.stop()

    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert siaga("backup", str(backup), "--database", source_url).returncode == 1   # never overwritten

    target_url = _url(engine_name, tmp_path, "restored")
    done = siaga("restore", str(backup), "--database", target_url)
    assert done.returncode == 0, done.stderr
    assert f"already at head {head_revision()}" in done.stdout
    restored = _alarms(target_url)
    assert before <= restored                       # nothing acked before the backup is missing
    assert restored <= sent                         # and nothing that was never sent appeared
    assert restored < _alarms(source_url)           # the live database went on after the snapshot
    upgrade = siaga("db", "upgrade", "--database", target_url)
    assert upgrade.returncode == 0 and f"already at head {head_revision()}" in upgrade.stdout, upgrade.stderr
    if target_url.startswith("sqlite"):
        db_file = Path(target_url.split("///", 1)[1])
        assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(db_file.parent.stat().st_mode) == 0o700

    again = FleetServer(tmp_path / "server-restored", broker, database_url=target_url).start()
    try:
        r = again.api("GET", "/devices")
        assert r.status_code == 200, r.text
        assert {d["id"] for d in r.json()} >= set(DEVICES)
        incidents = again.api("GET", "/incidents")
        assert incidents.status_code == 200 and incidents.json(), incidents.text
    finally:
        again.stop()


def _acked_set(messages) -> set[tuple[str, int]]:
    return {(a["dev"], a["seq"]) for a in (codec_json.decode(m.payload, m.topic) for m in messages)}


def test_given_an_empty_database_when_upgraded_then_it_says_from_which_revision_to_which(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'siaga.db'}"
    first = siaga("db", "upgrade", "--database", url)
    assert first.returncode == 0, first.stderr
    assert f"upgraded from an empty database to {head_revision()}" in first.stdout
    older = siaga("db", "upgrade", "--database", url)
    assert f"already at head {head_revision()}" in older.stdout


def test_given_a_database_at_an_older_revision_when_upgraded_then_it_names_both(tmp_path):
    from fleet_server.storage.db import make_engine, upgrade
    url = f"sqlite:///{tmp_path / 'siaga.db'}"
    e = make_engine(url)
    upgrade(e, "0004")
    e.dispose()
    done = siaga("db", "upgrade", "--database", url)
    assert done.returncode == 0, done.stderr
    assert f"upgraded from 0004 to {head_revision()}" in done.stdout


def test_given_bad_input_then_backup_and_restore_refuse_with_the_reason(tmp_path):
    missing = siaga("backup", str(tmp_path / "b"), "--database", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert missing.returncode == 1 and "no such database" in missing.stderr
    nodir = siaga("backup", str(tmp_path / "no" / "b"), "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert nodir.returncode == 1 and "no such directory" in nodir.stderr
    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(b"PGDMP not sqlite")
    wrong = siaga("restore", str(garbage), "--database", f"sqlite:///{tmp_path / 'r' / 'siaga.db'}")
    assert wrong.returncode == 1 and "not an SQLite database" in wrong.stderr
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))
