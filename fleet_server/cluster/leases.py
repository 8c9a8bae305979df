"""Leases: each singleton duty (supervision and escalation, dispatch timers, the SMS modem, OTA
campaign gates, history retention) runs on exactly one worker at a time.

On PostgreSQL the lease is a row of `leases` (name, holder, token, expires_at), written with the
database's own clock (clock_timestamp), so the workers' clocks never matter:
- acquire and renew are one UPDATE: it succeeds when the row is free (expired) or already ours;
  a new holder (or a holder whose lease lapsed) gets token + 1, the fencing token;
- the keeper thread renews every `renew_s`; a lease not renewed for `ttl_s` is free, so a worker
  killed with SIGKILL loses its leases within ttl_s of its last renewal, and another worker,
  seeking a lease it lacks every renew_s / 4, takes them over within ttl_s + renew_s / 4 of the
  death (defaults 3 s + 0.25 s: under the 5 s promise);
- locally a lease counts as held only until the moment its last renewal was *sent* plus ttl_s
  minus a margin, so a worker cut off from the database stops acting before anyone else may start;
- fencing: a write that a stale holder must not make runs `fence(session, name)` first in its own
  transaction. It reads the row FOR SHARE with our (holder, token): a takeover UPDATE then waits
  for our commit, and once it happened our check fails and the write rolls back (Kleppmann's
  fencing token, checked by the storage that takes the write, as Chubby's sequencers and
  Patroni's leader key with its compare-and-set do).

On SQLite only one worker may run (the file is the database), so every lease is simply held.
The domain sees a lease only through the `Lease` port (domain/repositories.py): held() or not."""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

from fleet_server.logs import event

log = logging.getLogger("siaga.leases")

# The singleton duties, each under its own lease.
SUPERVISION = "supervision"     # heartbeats -> offline, escalation ladder, SLA breaches
DISPATCH = "dispatch"           # unanswered dispatch orders: alert, propose the next unit
SMS = "sms"                     # the SMS gateway's modem (one serial port, one reader)
CAMPAIGNS = "campaigns"         # OTA campaign gates
RETENTION = "retention"         # unit history retention
PRESENCE = "presence"           # the server's retained online status on the broker
DUTIES = (SUPERVISION, DISPATCH, SMS, CAMPAIGNS, RETENTION, PRESENCE)

_NOW = "extract(epoch from clock_timestamp())"
_ACQUIRE = text(f"""
UPDATE leases SET
  token = CASE WHEN holder = :h AND expires_at > {_NOW} THEN token ELSE token + 1 END,
  acquired_at = CASE WHEN holder = :h AND expires_at > {_NOW} THEN acquired_at ELSE {_NOW} END,
  holder = :h, expires_at = {_NOW} + :ttl
WHERE name = :n AND (holder = :h OR expires_at <= {_NOW})
RETURNING token""")
_SEED = text("INSERT INTO leases (name, holder, token, expires_at, acquired_at) VALUES (:n, '', 0, 0, 0) "
             "ON CONFLICT (name) DO NOTHING")
_RELEASE = text("UPDATE leases SET expires_at = 0 WHERE name = :n AND holder = :h AND token = :t")
_FENCE = text(f"SELECT 1 FROM leases WHERE name = :n AND holder = :h AND token = :t AND expires_at > {_NOW} "
              "FOR SHARE")


class LeaseLost(RuntimeError):
    """A fenced write by a worker that no longer holds the lease: rolled back."""


class _Held:
    __slots__ = ("token", "until")

    def __init__(self, token: int, until: float):
        self.token, self.until = token, until


class Leases:
    """This worker's leases on one database. `lease(name)` is the domain's port for one duty;
    on_change(name, held) is told when a lease is gained or lost (to start or stop a duty that is
    a long-lived thing, like the SMS modem)."""

    def __init__(self, engine: Engine, holder: str, names=DUTIES, ttl_s: float = 3.0, renew_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        if renew_s * 2 >= ttl_s:
            raise ValueError(f"lease renewal every {renew_s}s must be well under the ttl of {ttl_s}s")
        self.engine = engine
        self.holder = holder
        self.names = tuple(names)
        self.ttl_s, self.renew_s = ttl_s, renew_s
        self.margin_s = min(0.5, ttl_s / 4)
        self.trivial = engine.dialect.name != "postgresql"
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, bool], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.takeovers = 0
        self._seeded = False

    # ---- what the duties ask -------------------------------------------------------------------
    def held(self, name: str) -> bool:
        if self.trivial:
            return True
        with self._lock:
            h = self._held.get(name)
            return h is not None and self._clock() < h.until

    def token(self, name: str) -> int | None:
        if self.trivial:
            return 0
        with self._lock:
            h = self._held.get(name)
            return h.token if h is not None and self._clock() < h.until else None

    def lease(self, name: str) -> "Lease":
        return Lease(self, name)

    def on_change(self, fn: Callable[[str, bool], None]) -> None:
        self._listeners.append(fn)

    def snapshot(self) -> dict[str, int]:
        """The leases this worker holds now, with their tokens (for /healthz)."""
        return {n: t for n in self.names if (t := self.token(n)) is not None}

    def fence(self, session, name: str) -> None:
        """In a write transaction (a SQLAlchemy session): raise LeaseLost unless this worker still
        holds `name` with its current token; the row stays share-locked until the commit."""
        if self.trivial:
            return
        token = self.token(name)
        if token is None or session.execute(_FENCE, {"n": name, "h": self.holder, "t": token}).first() is None:
            raise LeaseLost(f"lease {name!r} is no longer held by {self.holder}")

    # ---- the keeper ----------------------------------------------------------------------------
    def start(self) -> "Leases":
        if self.trivial:
            for n in self.names:
                self._tell(n, True)
            return self
        self.renew()
        self._thread = threading.Thread(target=self._run, name="siaga-leases", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Give the leases back at once, so another worker takes over without waiting for the ttl."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.trivial:
            return
        with self._lock:
            held, self._held = dict(self._held), {}
        for n in held:
            self._tell(n, False)
        try:
            with self.engine.begin() as c:
                for n, h in held.items():
                    c.execute(_RELEASE, {"n": n, "h": self.holder, "t": h.token})
        except Exception as e:  # the database is gone: the ttl frees them
            event(log, logging.WARNING, "leases not released", error=repr(e)[:200])

    def renew(self) -> None:
        """One round: renew what we hold, take what is free. A database error loses nothing at
        once: what we hold stays held locally until its deadline, then counts as lost."""
        sent = self._clock()
        got: dict[str, int] = {}
        try:
            with self.engine.begin() as c:
                if not self._seeded:
                    for n in self.names:
                        c.execute(_SEED, {"n": n})
                    self._seeded = True
                for n in self.names:
                    row = c.execute(_ACQUIRE, {"n": n, "h": self.holder, "ttl": self.ttl_s}).first()
                    if row is not None:
                        got[n] = int(row[0])
        except Exception as e:
            event(log, logging.WARNING, "lease renewal failed", error=repr(e)[:200])
            got = None
        changes: list[tuple[str, bool, int | None]] = []
        with self._lock:
            now = self._clock()
            for n in self.names:
                before = self._held.get(n)
                was = before is not None and now < before.until
                if got is not None and n in got:
                    self._held[n] = _Held(got[n], sent + self.ttl_s - self.margin_s)
                    if was and before.token != got[n]:
                        changes.append((n, False, before.token))   # lapsed and re-taken: restart it
                        was = False
                    if not was:
                        changes.append((n, True, got[n]))
                elif got is not None or (before is not None and not was):
                    # not ours (any more), or no answer past the local deadline: lost
                    self._held.pop(n, None)
                    if before is not None:
                        changes.append((n, False, before.token))
        for n, is_, token in changes:
            if is_:
                self.takeovers += 1
                event(log, logging.INFO, "lease taken", lease=n, holder=self.holder, token=token)
            else:
                event(log, logging.WARNING, "lease lost", lease=n, holder=self.holder, token=token)
            self._tell(n, is_)

    def _run(self) -> None:
        # What we hold is renewed every renew_s; while a lease is someone else's, it is sought
        # four times as often, so a takeover follows the old holder's expiry by at most renew_s / 4.
        while not self._stop.wait(self.renew_s if all(self.held(n) for n in self.names) else self.renew_s / 4):
            self.renew()

    def _tell(self, name: str, held: bool) -> None:
        for fn in self._listeners:
            try:
                fn(name, held)
            except Exception:
                log.exception("lease listener failed on %s", name)


class Lease:
    """One duty's lease: the domain's `Lease` port (held()), and a fence for its writes."""

    def __init__(self, leases: Leases, name: str):
        self.leases, self.name = leases, name

    def held(self) -> bool:
        return self.leases.held(self.name)

    @property
    def token(self) -> int | None:
        return self.leases.token(self.name)


# The duty whose writes the current thread makes (fenced by the storage: storage/repositories.py).
current_fence: contextvars.ContextVar = contextvars.ContextVar("siaga_fence", default=None)


@contextmanager
def fenced(lease: Lease):
    """Every write transaction the current thread opens inside this block first checks that this
    worker still holds `lease` (Leases.fence); a stale holder's writes raise LeaseLost."""
    tok = current_fence.set(lease)
    try:
        yield
    finally:
        current_fence.reset(tok)


def always_held() -> Leases:
    """Leases that are simply held: a worker alone on its database (SQLite)."""
    class _Trivial(Leases):
        def __init__(self):   # noqa: D107 - no database needed
            self.trivial, self.names, self._listeners, self.takeovers = True, DUTIES, [], 0
            self.holder = "local"
    return _Trivial()
