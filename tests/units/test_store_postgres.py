"""Unit history on a real PostgreSQL (production's store): batches, history queries, retention,
restart; and while the database is down the batcher keeps a bounded backlog, drops the oldest
rows and counts them, and the latest positions still move in memory."""
from __future__ import annotations

import subprocess
import time

import pytest

from fleet_server.app import open_fleet
from fleet_server.storage.db import make_engine, upgrade
from fleet_server.storage.units import PositionBatcher
from tests.support.postgres import PG_BIN, PostgresCluster, available
from tests.units.conftest import CENTRE, NOW, ambulance, pos_msg

if not available():  # the Makefile installs postgresql; say so instead of skipping
    raise RuntimeError(f"PostgreSQL binaries not found in {PG_BIN}: run `make test` to install postgresql")


@pytest.fixture(scope="module")
def cluster():
    pg = PostgresCluster().start()
    try:
        yield pg
    finally:
        pg.stop()


def pg_ctl(pg: PostgresCluster, *args: str) -> None:
    subprocess.run([*pg._as, str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-l", str(pg.log), "-w", "-t", "30", *args],
                   check=True, capture_output=True, timeout=60)


def test_given_postgresql_when_fixes_arrive_then_history_batches_reload_and_retention_work(cluster):
    engine = make_engine(cluster.new_database("units"))
    upgrade(engine)
    try:
        fleet = open_fleet(engine, lambda *a: None, persist_batch=40, persist_delay_s=0.05)
        try:
            fleet.register(ambulance(1))
            for i in range(100):
                fleet.handle("pos", pos_msg("trk-amb-01", NOW + i, CENTRE[0] + 10 * i, CENTRE[1], seq=i, acc=4), NOW + i)
            assert fleet.batcher.flush(10)
            assert len(fleet.store.history("AMB-01")) == 100
        finally:
            fleet.close()
        again = open_fleet(engine, lambda *a: None)
        try:
            u = again.tracking.get("AMB-01")
            assert (u.position.lat, u.position.ts, u.position.acc) == (CENTRE[0] + 990, NOW + 99, 4)
            assert again.store.purge_history(NOW + 90) == 90
        finally:
            again.close()
    finally:
        engine.dispose()


def test_given_the_database_down_when_fixes_keep_coming_then_the_backlog_is_bounded_and_drains_after(cluster):
    engine = make_engine(cluster.new_database("units"))
    upgrade(engine)
    fleet = open_fleet(engine, lambda *a: None, persist_batch=50, persist_delay_s=0.05)
    # Small bound so the test sees the drop; production keeps 200,000 rows (minutes of a big fleet).
    fleet.batcher.close()
    fleet.batcher = PositionBatcher(fleet.store, max_batch=50, max_delay_s=0.05, max_pending=300)
    try:
        fleet.register(ambulance(1))
        pg_ctl(cluster, "-m", "fast", "stop")
        t0 = time.monotonic()
        for i in range(1000):
            fleet.handle("pos", pos_msg("trk-amb-01", NOW + i, CENTRE[0] + 10 * i, CENTRE[1], seq=i), NOW + i)
        assert time.monotonic() - t0 < 2.0            # the ingest never waited for the database
        assert fleet.tracking.get("AMB-01").position.ts == NOW + 999   # live state kept moving
        # One more failed attempt after the last fix: any batch that was in flight is back in line.
        seen = fleet.batcher.failures
        deadline = time.monotonic() + 10
        while fleet.batcher.failures <= seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fleet.batcher.failures > seen
        assert fleet.batcher.pending <= 300 and fleet.batcher.dropped == 700
        pg_ctl(cluster, "-o", f"-p {cluster.port} -k {cluster.dir} -c listen_addresses=127.0.0.1", "start")
        assert fleet.batcher.flush(30)
        hist = fleet.store.history("AMB-01")
        # The newest 300 fixes survived the outage, the oldest 700 were dropped and counted.
        assert len(hist) == 300 and hist[0].ts == NOW + 700 and hist[-1].ts == NOW + 999
        assert fleet.batcher.dropped == 700
    finally:
        fleet.close()
        engine.dispose()
