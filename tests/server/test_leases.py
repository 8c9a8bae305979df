"""Leases of the singleton duties (fleet_server/cluster/leases.py) on the real database: one holder
at a time, takeover once the holder stops renewing, and the fencing token refusing a stale
holder's writes. On SQLite (one worker) every lease is simply held."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from fleet_server.cluster.leases import Leases, LeaseLost, fenced
from fleet_server.storage.db import Database


def _audit_rows(db: Database) -> int:
    with db.read() as s:
        return s.execute(text("SELECT count(*) FROM audit WHERE actor = 'lease-test'")).scalar()


def _write(db: Database, what: str) -> None:
    with db.session() as s:
        s.execute(text("INSERT INTO audit (at, actor, action, entity, entity_id) "
                       "VALUES (:at, 'lease-test', :a, 'lease', '1')"), {"at": time.time(), "a": what})


def test_given_sqlite_when_leases_start_then_every_duty_is_held_and_writes_pass_the_fence(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    try:
        leases = Leases(db.engine, "only", names=("supervision",)).start()
        assert leases.held("supervision") and leases.snapshot() == {"supervision": 0}
        with fenced(leases.lease("supervision")):
            _write(db, "alone")
        assert _audit_rows(db) == 1
        leases.stop()
    finally:
        db.dispose()


@pytest.mark.postgres
def test_given_two_workers_when_the_holder_stops_renewing_then_the_other_takes_over_and_the_stale_writes_are_fenced(
        postgres):
    url = postgres.new_database("leases")
    db_a, db_b = Database(url), Database(url)
    a = Leases(db_a.engine, "w1", names=("supervision",), ttl_s=1.0, renew_s=0.3)
    b = Leases(db_b.engine, "w2", names=("supervision",), ttl_s=1.0, renew_s=0.3)
    try:
        a.renew()
        a._clock = lambda: 0.0          # w1 believes its lease is still fresh: a paused process
        b.renew()
        assert a.held("supervision") and not b.held("supervision")   # one holder at a time
        token_a = a.token("supervision")
        with fenced(a.lease("supervision")):
            _write(db_a, "holder")
        deadline = time.monotonic() + 5
        while not b.held("supervision") and time.monotonic() < deadline:   # w1 stopped renewing
            time.sleep(0.1)
            b.renew()
        assert b.held("supervision") and b.token("supervision") == token_a + 1
        # w1 woke up and still believes it holds the lease: its write is refused by the token.
        assert a.held("supervision")
        with pytest.raises(LeaseLost):
            with fenced(a.lease("supervision")):
                _write(db_a, "stale")
        with fenced(b.lease("supervision")):
            _write(db_b, "new holder")
        assert _audit_rows(db_a) == 2
        # A holder that stops gives the lease back at once.
        b.stop()
        a._clock = time.monotonic
        a.renew()
        assert a.held("supervision") and a.token("supervision") == token_a + 2
    finally:
        db_a.dispose()
        db_b.dispose()
