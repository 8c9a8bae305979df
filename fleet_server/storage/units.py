"""Units, their position history and dispatch's journal in the fleet server's database (SQLite or
PostgreSQL): the SQLAlchemy side of the domain's UnitRepository and Journal ports
(fleet_server/domain/repositories.py), and the batched history writer.

The tables are the storage package's (fleet_server.storage.models) and Alembic creates them:
the engine handed in must have been migrated (fleet_server.storage.db.upgrade)."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from fleet_server.domain.assignments import Assignment
from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.units import Position, Unit
from fleet_server.storage.models import (assignments_table, dispatch_incidents_table, positions_table,
                                         units_table)

log = logging.getLogger("siaga.storage.units")

class UnitStore:
    """UnitRepository and Journal on one engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        cols = ("unit_id", "ts", "received_at", "lat", "lon", "acc", "spd", "hdg")
        self._insert_sql = "INSERT INTO unit_positions (%s) VALUES (%s)" % (", ".join(cols), ", ".join([mark] * len(cols)))
        self._latest_sql = "UPDATE units SET last_lat = {0}, last_lon = {0}, last_ts = {0}, last_acc = {0} WHERE id = {0}".format(mark)

    # ---- units ------------------------------------------------------------------------------
    def save_unit(self, u: Unit) -> None:
        self.save_units([u])

    def save_units(self, units: Iterable[Unit]) -> None:
        """Insert or update, all in one transaction (a fleet of 500 is one commit, not 500)."""
        with self.engine.begin() as c:
            for u in units:
                row = {"callsign": u.callsign, "agency": u.agency, "type": u.type, "home_station": u.home_station,
                       "home_lat": u.home_lat, "home_lon": u.home_lon,
                       "capabilities": json.dumps(list(u.capabilities)), "device_id": u.device_id,
                       "status": u.status, "status_at": u.status_at}
                if c.execute(update(units_table).where(units_table.c.id == u.id).values(**row)).rowcount == 0:
                    c.execute(insert(units_table).values(id=u.id, **row))

    def save_status(self, unit_id: str, status: str, at: float | None) -> None:
        with self.engine.begin() as c:
            c.execute(update(units_table).where(units_table.c.id == unit_id).values(status=status, status_at=at))

    def load_units(self) -> list[Unit]:
        with self.engine.connect() as c:
            rows = c.execute(select(units_table)).mappings().all()
        out = []
        for r in rows:
            u = Unit(id=r["id"], callsign=r["callsign"], agency=r["agency"], type=r["type"],
                     home_station=r["home_station"], home_lat=r["home_lat"], home_lon=r["home_lon"],
                     capabilities=tuple(json.loads(r["capabilities"] or "[]")), device_id=r["device_id"],
                     status=r["status"], status_at=r["status_at"])
            if r["last_ts"] is not None:
                u.position = Position(lat=r["last_lat"], lon=r["last_lon"], ts=r["last_ts"],
                                      received_at=r["last_ts"], acc=r["last_acc"])
            out.append(u)
        return out

    # ---- positions --------------------------------------------------------------------------
    def write_positions(self, batch: list[tuple[str, Position]]) -> None:
        """One transaction for the batch: history rows plus each unit's latest fix."""
        if not batch:
            return
        rows = [(uid, p.ts, p.received_at, p.lat, p.lon, p.acc, p.spd, p.hdg) for uid, p in batch]
        latest: dict[str, Position] = {}
        for uid, p in batch:
            if uid not in latest or p.ts > latest[uid].ts:
                latest[uid] = p
        with self.engine.begin() as c:
            # The driver's executemany with plain tuples: SQLAlchemy's per-row parameter handling
            # tripled the cost of a batch (23 vs 8 us a row on SQLite, measured).
            c.exec_driver_sql(self._insert_sql, rows)
            c.exec_driver_sql(self._latest_sql, [(p.lat, p.lon, p.ts, p.acc, uid) for uid, p in latest.items()])

    # ---- dispatch journal ---------------------------------------------------------------------
    def save_dispatch_incident(self, site, buttons, attempts, feedback_sent, open_) -> None:
        row = {"lat": site.lat, "lon": site.lon, "category": site.category, "buttons": json.dumps(list(buttons)),
               "attempts": attempts, "feedback_sent": json.dumps(sorted(feedback_sent)), "open": open_}
        self._upsert(dispatch_incidents_table, site.id, row)

    def save_assignment(self, a) -> None:
        row = {"incident": a.incident, "unit": a.unit, "device": a.device, "by": a.by, "state": a.state,
               "ordered_at": a.ordered_at, "lat": a.lat, "lon": a.lon, "category": a.category, "note": a.note,
               "answered_at": a.answered_at, "onscene_at": a.onscene_at, "why": a.why, "near_sent": a.near_sent,
               "history": json.dumps(a.history)}
        self._upsert(assignments_table, a.id, row)

    def _upsert(self, t, id_, row: dict) -> None:
        """One statement, insert or update by id (INSERT ... ON CONFLICT DO UPDATE, on SQLite and
        PostgreSQL alike): every new incident is journalled, and during a drain of queued alarms
        an UPDATE then an INSERT was two round trips on the dispatch thread for each of them."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t).values(id=id_, **row)
        with self.engine.begin() as c:
            c.execute(stmt.on_conflict_do_update(index_elements=[t.c.id], set_=row))

    def load_dispatch(self):
        """Open incidents and all their orders, for Dispatch after a restart."""
        ti, ta = dispatch_incidents_table, assignments_table
        with self.engine.connect() as c:
            incs = c.execute(select(ti).where(ti.c.open.is_(True))).mappings().all()
            ids = [r["id"] for r in incs]
            rows = c.execute(select(ta).where(ta.c.incident.in_(ids))).mappings().all() if ids else []
        incidents = [(IncidentSite(r["id"], r["lat"], r["lon"], r["category"]), tuple(json.loads(r["buttons"])),
                      r["attempts"], set(json.loads(r["feedback_sent"]))) for r in incs]
        orders = []
        for r in rows:
            d = dict(r)
            d["history"] = [tuple(h) for h in json.loads(d["history"])]
            orders.append(Assignment(**d))
        return incidents, orders

    def history(self, unit_id: str, since: float | None = None, until: float | None = None,
                limit: int = 10000) -> list[Position]:
        q = select(positions_table).where(positions_table.c.unit_id == unit_id)
        if since is not None:
            q = q.where(positions_table.c.ts >= since)
        if until is not None:
            q = q.where(positions_table.c.ts <= until)
        q = q.order_by(positions_table.c.ts.desc()).limit(limit)
        with self.engine.connect() as c:
            rows = c.execute(q).mappings().all()
        return [Position(lat=r["lat"], lon=r["lon"], ts=r["ts"], received_at=r["received_at"], acc=r["acc"],
                         spd=r["spd"], hdg=r["hdg"]) for r in reversed(rows)]

    def purge_history(self, older_than: float) -> int:
        """Retention: drop fixes taken before `older_than`. Returns how many went."""
        with self.engine.begin() as c:
            return c.execute(delete(positions_table).where(positions_table.c.ts < older_than)).rowcount


class PositionBatcher:
    """Positions reach the database in batches from a background thread: one transaction per
    batch instead of one per fix keeps the ingest off the database's commit latency. Memory is
    bounded: if the database falls behind by more than `max_pending` fixes, the oldest history
    rows go first (counted in `dropped`); the latest position stays in memory either way."""

    def __init__(self, store: UnitStore, max_batch: int = 500, max_delay_s: float = 0.5,
                 max_pending: int = 200_000):
        self.store = store
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._pending: deque[tuple[str, Position]] = deque()
        self.max_pending = max_pending
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="unit-positions", daemon=True)
        self._thread.start()

    def add(self, unit: Unit, pos: Position) -> None:
        with self._cond:
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append((unit.id, pos))
            if len(self._pending) >= self.max_batch:
                self._cond.notify()

    @property
    def pending(self) -> int:
        """Rows waiting for the database (at most max_pending, plus one batch being written)."""
        return len(self._pending)

    def add_many(self, items: Iterable[tuple[Unit, Position]]) -> None:
        for u, p in items:
            self.add(u, p)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything added so far is written (or timeout). True when empty."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify()
            while (self._pending or self._busy) and time.monotonic() < deadline:
                self._cond.wait(0.05)
                self._cond.notify()
            return not self._pending and not self._busy

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending and not self._stop:
                    self._cond.wait(self.max_delay_s)
                if self._stop and not self._pending:
                    return
                batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
                self._busy = bool(batch)
            try:
                self.store.write_positions(batch)
                self.written += len(batch)
            except Exception:
                # The database is away: put the batch back (oldest first) and wait before retrying.
                if self.failures % 50 == 0:  # the first failure and then every 50th: no log flood
                    log.exception("writing %d positions failed (%d failures so far); will retry",
                                  len(batch), self.failures + 1)
                with self._cond:
                    self._pending.extendleft(reversed(batch))
                    while len(self._pending) > self.max_pending:
                        self._pending.popleft()
                        self.dropped += 1
                    self.failures += 1
                    self._busy = False
                    self._cond.wait(min(5.0, 0.2 * self.failures))
                continue
            with self._cond:
                self._busy = False
                self._cond.notify_all()
