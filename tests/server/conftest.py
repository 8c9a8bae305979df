"""Fixtures of the fleet-server tests: databases on both engines (SQLite file in WAL mode, and a
private PostgreSQL cluster), the IncidentService on them, and the whole server as a subprocess."""
from __future__ import annotations

import itertools

import pytest

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.support.postgres import PostgresCluster
from tests.support.server import FleetServer

T0 = 1_790_000_000.0  # a fixed "now" (2026-09) so tests never depend on the wall clock
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'siaga.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def db(database_url):
    d = Database(database_url)
    try:
        yield d
    finally:
        d.dispose()


class FakeClock:
    """Time the test controls (the service takes its clock as an argument)."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def service(db, clock):
    return IncidentService(SqlIncidentStore(db), Rules(fold_radius_m=150, fold_window_s=300, escalate_after_s=60, escalate_head_after_s=120,
                                     prank_flag_threshold=2, heartbeat_misses_offline=2,
                                     button_heartbeat_s=300, tracker_heartbeat_s=60), clock=clock)


def alarm(dev: str, seq: int, ts: float = T0, boot: int = 1, cat: str = "medical", trig: str = "button",
          presses: int = 1, lat: int | None = None, lon: int | None = None, src: str = "none") -> dict:
    """An alarm as protocols.codec_json.decode returns it."""
    return {"v": 1, "t": "alarm", "dev": dev, "boot": boot, "seq": seq, "ts": int(ts), "cat": cat, "trig": trig,
            "presses": presses, "lat": lat, "lon": lon, "src": src if lat is not None else "none",
            "acc": 10 if lat is not None else None, "age": 2 if lat is not None else None}


def new_device_id(prefix: str = "btn") -> str:
    return f"{prefix}-{next(_ids)}"


@pytest.fixture
def fleet_server(broker, tmp_path):
    """The whole fleet server (uvicorn subprocess) on the test's broker and a SQLite file;
    .kill() crashes it, .restart() brings it back on the same database."""
    srv = FleetServer(tmp_path / "server", broker)
    try:
        yield srv
    finally:
        srv.stop()
