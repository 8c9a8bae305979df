"""The schema is Alembic's alone, on SQLite and PostgreSQL: a fresh database migrated to head is
exactly the models (autogenerate finds nothing to do), and a database made by the previous
server (revision 0001 plus the units, positions and dispatch tables its units module created
itself) upgrades with every row intact, its indexes and unique keys in place."""
from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from fleet_server.storage.db import MIGRATIONS, Database, head_revision, make_engine, upgrade
from fleet_server.storage.models import Base
from fleet_server.storage.units import UnitStore

pytestmark = pytest.mark.postgres

ADOPTED = ("units", "unit_positions", "dispatch_incidents", "dispatch_assignments")

# The DDL the units module's `create_all` emitted before these tables joined the Alembic chain,
# frozen here as the two engines received it (SQLAlchemy 2.1, CreateTable/CreateIndex).
PREVIOUS_DDL = {
    "sqlite": """
CREATE TABLE dispatch_assignments (
    id VARCHAR(32) NOT NULL, incident BIGINT NOT NULL, unit VARCHAR(32) NOT NULL, device VARCHAR(32) NOT NULL,
    "by" VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, ordered_at DOUBLE NOT NULL, lat INTEGER NOT NULL,
    lon INTEGER NOT NULL, category VARCHAR(16) NOT NULL, note VARCHAR(120) NOT NULL, answered_at DOUBLE,
    onscene_at DOUBLE, why VARCHAR(80), near_sent BOOLEAN NOT NULL, history TEXT NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_dispatch_assignments_incident ON dispatch_assignments (incident);
CREATE TABLE dispatch_incidents (
    id BIGINT NOT NULL, lat INTEGER NOT NULL, lon INTEGER NOT NULL, category VARCHAR(16) NOT NULL,
    buttons TEXT NOT NULL, attempts INTEGER NOT NULL, feedback_sent TEXT NOT NULL, open BOOLEAN NOT NULL,
    PRIMARY KEY (id));
CREATE TABLE unit_positions (
    id INTEGER NOT NULL, unit_id VARCHAR(32) NOT NULL, ts DOUBLE NOT NULL, received_at DOUBLE NOT NULL,
    lat INTEGER NOT NULL, lon INTEGER NOT NULL, acc INTEGER, spd INTEGER, hdg INTEGER, PRIMARY KEY (id));
CREATE INDEX ix_unit_positions_ts ON unit_positions (ts);
CREATE INDEX ix_unit_positions_unit_ts ON unit_positions (unit_id, ts);
CREATE TABLE units (
    id VARCHAR(32) NOT NULL, callsign VARCHAR(32) NOT NULL, agency VARCHAR(16) NOT NULL, type VARCHAR(16) NOT NULL,
    home_station VARCHAR(120) NOT NULL, home_lat INTEGER, home_lon INTEGER, capabilities TEXT NOT NULL,
    device_id VARCHAR(32), status VARCHAR(16) NOT NULL, status_at DOUBLE, last_lat INTEGER, last_lon INTEGER,
    last_ts DOUBLE, last_acc INTEGER, PRIMARY KEY (id), UNIQUE (device_id));
""",
    "postgresql": """
CREATE TABLE dispatch_assignments (
    id VARCHAR(32) NOT NULL, incident BIGINT NOT NULL, unit VARCHAR(32) NOT NULL, device VARCHAR(32) NOT NULL,
    by VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, ordered_at DOUBLE PRECISION NOT NULL,
    lat INTEGER NOT NULL, lon INTEGER NOT NULL, category VARCHAR(16) NOT NULL, note VARCHAR(120) NOT NULL,
    answered_at DOUBLE PRECISION, onscene_at DOUBLE PRECISION, why VARCHAR(80), near_sent BOOLEAN NOT NULL,
    history TEXT NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_dispatch_assignments_incident ON dispatch_assignments (incident);
CREATE TABLE dispatch_incidents (
    id BIGINT NOT NULL, lat INTEGER NOT NULL, lon INTEGER NOT NULL, category VARCHAR(16) NOT NULL,
    buttons TEXT NOT NULL, attempts INTEGER NOT NULL, feedback_sent TEXT NOT NULL, open BOOLEAN NOT NULL,
    PRIMARY KEY (id));
CREATE TABLE unit_positions (
    id BIGSERIAL NOT NULL, unit_id VARCHAR(32) NOT NULL, ts DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, lat INTEGER NOT NULL, lon INTEGER NOT NULL, acc INTEGER, spd INTEGER,
    hdg INTEGER, PRIMARY KEY (id));
CREATE INDEX ix_unit_positions_ts ON unit_positions (ts);
CREATE INDEX ix_unit_positions_unit_ts ON unit_positions (unit_id, ts);
CREATE TABLE units (
    id VARCHAR(32) NOT NULL, callsign VARCHAR(32) NOT NULL, agency VARCHAR(16) NOT NULL, type VARCHAR(16) NOT NULL,
    home_station VARCHAR(120) NOT NULL, home_lat INTEGER, home_lon INTEGER, capabilities TEXT NOT NULL,
    device_id VARCHAR(32), status VARCHAR(16) NOT NULL, status_at DOUBLE PRECISION, last_lat INTEGER,
    last_lon INTEGER, last_ts DOUBLE PRECISION, last_acc INTEGER, PRIMARY KEY (id), UNIQUE (device_id));
""",
}

T0 = 1_790_000_000.0


def _statements(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]


def previous_server_database(url: str, ddl: str | None = None):
    """What the previous server left: Alembic at 0001, then the units module's own tables."""
    engine = make_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as c:
        for stmt in _statements(ddl if ddl is not None else PREVIOUS_DDL[engine.dialect.name]):
            c.exec_driver_sql(stmt)
    return engine


def fill(engine) -> None:
    """Rows in the previous schema, written with plain SQL as the previous server stored them."""
    units = [("AMB-01", "Ambulans 1", "medical", "ambulance", "RSHS", -6902481, 107618767, '["als"]', "trk-amb-01",
              "enroute", T0 - 30, -6903000, 107619000, T0 - 5, 8),
             ("DAM-02", "Damkar 2", "fire", "fire_truck", "Pos Damkar Sukajadi", None, None, "[]", None,
              "available", None, None, None, None, None)]
    positions = [("AMB-01", T0 - 20 + k, T0 - 19 + k, -6902481 - 50 * k, 107618767 + 40 * k, 8, 1200, 90)
                 for k in range(15)] + [("AMB-01", T0 - 5, T0 - 4, -6903000, 107619000, None, None, None)]
    incidents = [(31, -6904000, 107620000, "fire", '["btn-1","btn-2"]', 2, '["dispatched"]', True),
                 (32, -6905000, 107621000, "medical", "[]", 0, "[]", False)]
    history = json.dumps([["ordered", T0 - 40, "op-budi"], ["accepted", T0 - 35, "trk-amb-01"]])
    orders = [("D31-1", 31, "AMB-01", "trk-amb-01", "op-budi", "accepted", T0 - 40, -6904000, 107620000, "fire",
               "lewat Jl. Cihampelas", T0 - 35, None, None, True, history),
              ("D32-1", 32, "DAM-02", "trk-dam-02", "auto", "timeout", T0 - 400, -6905000, 107621000, "medical",
               "", None, None, "no answer in 60 s", False, "[]")]
    with engine.begin() as c:
        c.execute(text("INSERT INTO units VALUES (:a0, :a1, :a2, :a3, :a4, :a5, :a6, :a7, :a8, :a9, :a10, :a11,"
                       " :a12, :a13, :a14)"), [_named(r) for r in units])
        c.execute(text("INSERT INTO unit_positions (unit_id, ts, received_at, lat, lon, acc, spd, hdg)"
                       " VALUES (:a0, :a1, :a2, :a3, :a4, :a5, :a6, :a7)"), [_named(r) for r in positions])
        c.execute(text("INSERT INTO dispatch_incidents VALUES (:a0, :a1, :a2, :a3, :a4, :a5, :a6, :a7)"),
                  [_named(r) for r in incidents])
        c.execute(text("INSERT INTO dispatch_assignments VALUES (:a0, :a1, :a2, :a3, :a4, :a5, :a6, :a7, :a8,"
                       " :a9, :a10, :a11, :a12, :a13, :a14, :a15)"), [_named(r) for r in orders])
        c.execute(text("INSERT INTO devices (id, kind, site, category, agency, active, status, tamper, stuck,"
                       " prank_count, prank_flagged, created_at) VALUES ('btn-1', 'button', 'Alun-alun',"
                       " 'medical', '112', true, 'online', false, false, 0, false, :t)"), {"t": T0 - 1000})


def _named(row: tuple) -> dict:
    return {"a%d" % i: v for i, v in enumerate(row)}


def snapshot(engine, columns: dict | None = None) -> dict:
    """Every row of the adopted tables; with `columns` ({table: [names]}), only those columns (a
    migration may add columns: the rows that were there must be intact)."""
    tables = ADOPTED + ("devices",)
    columns = columns or {t: [col["name"] for col in inspect(engine).get_columns(t)] for t in tables}
    with engine.connect() as c:
        return {t: sorted(tuple(r) for r in c.execute(text("SELECT %s FROM %s" % (", ".join(columns[t]), t))))
                for t in tables}


def schema_diff(engine) -> list:
    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), Base.metadata)


def version(engine) -> str:
    with engine.connect() as c:
        return c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def indexes(engine, table: str) -> dict:
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes(table)}


def test_given_an_empty_database_when_migrated_to_head_then_the_schema_is_exactly_the_models(database_url):
    db = Database(database_url)
    try:
        assert set(ADOPTED) <= set(inspect(db.engine).get_table_names())
        assert schema_diff(db.engine) == []
    finally:
        db.dispose()


def test_given_a_database_of_the_previous_server_when_upgraded_then_every_row_is_intact(database_url):
    engine = previous_server_database(database_url)
    try:
        fill(engine)
        columns = {t: [col["name"] for col in inspect(engine).get_columns(t)] for t in ADOPTED + ("devices",)}
        before = snapshot(engine, columns)
        assert sum(len(rows) for rows in before.values()) == 2 + 16 + 2 + 2 + 1

        db = Database(database_url)  # what the server does at start: upgrade to head
        db.dispose()

        assert version(engine) == head_revision()
        assert snapshot(engine, columns) == before
        assert schema_diff(engine) == []
        assert indexes(engine, "unit_positions") == {"ix_unit_positions_ts": ["ts"],
                                                     "ix_unit_positions_unit_ts": ["unit_id", "ts"]}
        assert indexes(engine, "dispatch_assignments") == {"ix_dispatch_assignments_incident": ["incident"]}

        # The store reads the adopted rows as it read them before.
        store = UnitStore(engine)
        units = {u.id: u for u in store.load_units()}
        assert units["AMB-01"].device_id == "trk-amb-01" and units["AMB-01"].capabilities == ("als",)
        assert (units["AMB-01"].position.lat, units["AMB-01"].position.ts) == (-6903000, T0 - 5)
        assert units["DAM-02"].position is None and units["DAM-02"].home_lat is None
        assert len(store.history("AMB-01")) == 16
        open_incidents, orders = store.load_dispatch()
        assert [site.id for site, *_ in open_incidents] == [31]
        assert [(o.id, o.state, o.near_sent, o.history[-1][0]) for o in orders] == [("D31-1", "accepted", True, "accepted")]

        with engine.begin() as c:  # new history rows continue the adopted ids
            c.execute(text("INSERT INTO unit_positions (unit_id, ts, received_at, lat, lon)"
                           " VALUES ('AMB-01', :t, :t, 1, 2)"), {"t": T0})
            assert c.execute(text("SELECT max(id) FROM unit_positions")).scalar_one() == 17
        with pytest.raises(IntegrityError):  # one tracker, one unit: the unique key came along
            with engine.begin() as c:
                c.execute(text("INSERT INTO units (id, callsign, agency, type, home_station, capabilities,"
                               " device_id, status) VALUES ('AMB-09', 'Ambulans 9', 'medical', 'ambulance', '',"
                               " '[]', 'trk-amb-01', 'available')"))
    finally:
        engine.dispose()


def test_given_the_previous_server_lost_an_index_when_upgraded_then_the_index_is_added(database_url):
    ddl = PREVIOUS_DDL["postgresql" if database_url.startswith("postgresql") else "sqlite"]
    ddl = ddl.replace("CREATE INDEX ix_unit_positions_ts ON unit_positions (ts);", "")
    engine = previous_server_database(database_url, ddl)
    try:
        fill(engine)
        columns = {t: [col["name"] for col in inspect(engine).get_columns(t)] for t in ADOPTED + ("devices",)}
        before = snapshot(engine, columns)
        upgrade(engine)
        assert "ix_unit_positions_ts" in indexes(engine, "unit_positions")
        assert snapshot(engine, columns) == before and schema_diff(engine) == []
    finally:
        engine.dispose()


def test_given_a_table_that_is_not_the_servers_when_upgraded_then_it_stops_with_the_reason_and_changes_nothing(database_url):
    """The index is added before the foreign table is reached: the failure rolls that back too."""
    ddl = PREVIOUS_DDL["postgresql" if database_url.startswith("postgresql") else "sqlite"]
    ddl = ddl.replace("CREATE INDEX ix_unit_positions_ts ON unit_positions (ts);", "")
    ddl = ddl.replace("near_sent BOOLEAN NOT NULL,\n    history TEXT NOT NULL,", "near_sent BOOLEAN NOT NULL,")
    ddl = ddl.replace("near_sent BOOLEAN NOT NULL, history TEXT NOT NULL,", "near_sent BOOLEAN NOT NULL,")
    engine = previous_server_database(database_url, ddl)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO dispatch_incidents VALUES (7, 1, 2, 'fire', '[]', 0, '[]', true)"))
        with pytest.raises(RuntimeError, match="cannot adopt table 'dispatch_assignments': it lacks the column\\(s\\) history"):
            upgrade(engine)
        assert version(engine) == "0001"
        assert "ix_unit_positions_ts" not in indexes(engine, "unit_positions")
        assert snapshot_of(engine, "dispatch_incidents") == [(7, 1, 2, "fire", "[]", 0, "[]", True)]
    finally:
        engine.dispose()


def snapshot_of(engine, table: str) -> list:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT * FROM %s" % table))]


def test_given_head_when_downgraded_to_the_first_revision_and_upgraded_again_then_the_schema_is_the_models(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        _downgrade(engine, "0001")
        assert not set(ADOPTED) & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def _downgrade(engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
