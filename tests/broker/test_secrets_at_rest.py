"""Secrets at rest: every file holding one is 0600 in a 0700 directory (broker passwords and ACL,
its config and log, the database, the server's log and keys), and the devices' SMS signing keys
are sealed in the database with a key kept outside it."""
from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from fleet_server.storage.sealed import PREFIX
from tests.support.mqtt import Recorder
from tests.conftest import OBSERVER_PASS, OBSERVER_USER

SMS_KEY = "5a1a6a112b0a7e5c" * 4   # 32 bytes, hex


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _assert_private(files: list[Path], dirs: list[Path]) -> None:
    for f in files:
        assert f.is_file(), f"{f} is missing"
        assert _mode(f) == 0o600, f"{f} is {oct(_mode(f))}"
    for d in dirs:
        assert _mode(d) == 0o700, f"{d} is {oct(_mode(d))}"


def test_the_brokers_files_are_private(broker):
    broker.add_account("btn-modes", "pw-modes")
    broker.reload()
    rec = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS)
    rec.close()
    broker.stop()   # writes the persistence file
    w = broker.workdir
    _assert_private([w / "passwd", w / "acl", w / "mosquitto.conf", w / "mosquitto.log", w / "data" / "mosquitto.db"],
                    [w, w / "data"])
    key = broker.tls.key
    _assert_private([key, key.with_name("ca.key")], [key.parent])


def test_the_servers_files_are_private_and_sms_keys_are_sealed(center):
    center.register("btn-sms", "pw-sms", sms_key=SMS_KEY)
    w = center.server.workdir
    db = w / "siaga.db"
    _assert_private([db, w / "server.log", w / "secrets" / "sms_seal.key"], [w, w / "secrets"])
    for extra in (w / "siaga.db-wal", w / "siaga.db-shm"):
        if extra.exists():
            assert _mode(extra) == 0o600, extra
    with sqlite3.connect(db) as con:
        [stored] = con.execute("SELECT sms_key FROM devices WHERE id = 'btn-sms'").fetchone()
    assert stored.startswith(PREFIX) and SMS_KEY not in stored
    for f in w.glob("siaga.db*"):
        raw = f.read_bytes()
        assert SMS_KEY.encode() not in raw and bytes.fromhex(SMS_KEY) not in raw, f"the SMS key is in the clear in {f}"
    r = center.server.api("GET", "/devices/btn-sms")
    assert r.status_code == 200 and r.json()["has_sms_key"] is True
    assert SMS_KEY not in r.text


def test_a_key_stored_in_the_clear_before_sealing_is_sealed_at_start(center):
    center.register("btn-old", "pw-old", sms_key=SMS_KEY)
    center.server.stop()
    db = center.server.workdir / "siaga.db"
    with sqlite3.connect(db) as con:   # as a version before sealing left it
        con.execute("UPDATE devices SET sms_key = ? WHERE id = 'btn-old'", (SMS_KEY,))
    center.server.start()
    with sqlite3.connect(db) as con:
        [stored] = con.execute("SELECT sms_key FROM devices WHERE id = 'btn-old'").fetchone()
    assert stored.startswith(PREFIX)
    assert center.server.api("GET", "/devices/btn-old").json()["has_sms_key"] is True


def test_a_sealed_key_needs_its_key_file(tmp_path):
    from fleet_server.sms import keys
    from fleet_server.storage import devices as device_repo
    from fleet_server.storage.db import Database
    from fleet_server.storage.sealed import SealError

    url = f"sqlite:///{tmp_path / 'db' / 'siaga.db'}"
    key = keys.load_or_create(tmp_path / "secrets" / "sms_seal.key")
    assert _mode(tmp_path / "secrets" / "sms_seal.key") == 0o600 and _mode(tmp_path / "secrets") == 0o700
    db = Database(url, seal_key=key)
    with db.session() as s:
        device_repo.create(s, "btn-k", "button", 0.0, sms_key=SMS_KEY)
    with db.read() as s:
        assert device_repo.get(s, "btn-k").sms_key == SMS_KEY
    db.dispose()
    # Without its key file the database opens with the default one beside it: another key.
    beside = Database(url)
    assert (tmp_path / "db" / "secrets" / "sms_seal.key").read_bytes() != key
    with pytest.raises(SealError, match="does not open"):
        with beside.read() as s:
            device_repo.get(s, "btn-k").sms_key
    beside.dispose()
    wrong = Database(url, seal_key=b"\0" * 32)
    with pytest.raises(SealError, match="does not open"):
        with wrong.read() as s:
            device_repo.get(s, "btn-k").sms_key
    wrong.dispose()


def test_nothing_the_demo_writes_is_readable_by_other_users(tmp_path):
    from tests.demo.conftest import Demo
    demo = Demo(tmp_path / "run")
    try:
        demo.start()
        w = demo.workdir
        assert _mode(w) == 0o700 and _mode(w / "siaga.toml") == 0o600
        exposed = []
        for p in [w, *w.rglob("*")]:
            if p.is_symlink() or p.is_file() and p.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----"):
                continue   # a certificate is public (0644 by design); its key is not
            # A directory others cannot enter protects what is in it; still, nothing in it is
            # readable by them either.
            if p.is_dir() and _mode(p) & 0o077 or p.is_file() and _mode(p) & 0o077:
                exposed.append(f"{p.relative_to(w)} {oct(_mode(p))}")
        assert exposed == [], exposed
    finally:
        demo.stop()
