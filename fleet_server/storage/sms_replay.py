"""The SMS gateway's replay windows in the database (the gateway's ReplayStore interface,
fleet_server.sms.gateway): one row per device, written after each accepted SOS, so a restarted
gateway, or one started on another host against the same PostgreSQL, still rejects replays."""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy.dialects import postgresql, sqlite

from fleet_server.storage.db import Database
from fleet_server.storage.models import SmsReplayWindow

_BIT63 = 1 << 63
_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _to_signed(mask: int) -> int:
    return mask - (1 << 64) if mask & _BIT63 else mask


def _to_unsigned(stored: int) -> int:
    return stored + (1 << 64) if stored < 0 else stored


class DatabaseReplayStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        if db.dialect not in _UPSERT:
            raise ValueError("no replay-window upsert for the %r engine" % db.dialect)
        self.db = db
        self.clock = clock

    def load(self, device_id: str) -> tuple[int, int, int] | None:
        with self.db.read() as s:
            row = s.get(SmsReplayWindow, device_id)
            return None if row is None else (row.boot, row.top, _to_unsigned(row.mask))

    def save(self, device_id: str, state: tuple[int, int, int]) -> None:
        boot, top, mask = state
        if not 0 <= mask < 1 << 64:
            raise ValueError("replay mask %r is not a 64-bit window" % mask)
        values = {"boot": boot, "top": top, "mask": _to_signed(mask), "updated_at": self.clock()}
        stmt = _UPSERT[self.db.dialect](SmsReplayWindow).values(device_id=device_id, **values)
        with self.db.session() as s:
            s.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_=values))
