"""Login throttling and lockout: in memory for one process (LoginGuard), in the database when
several workers answer logins (SharedLoginGuard, on PostgreSQL).

Two limits, both counted on failures only:
- a username refused `lockout_failures` times in a row is locked for `lockout_s`, whether or not
  such a user exists (so a lock does not tell who exists); a correct password while locked is
  refused too, and a success otherwise clears the count;
- one client address may fail `throttle_failures` times per `throttle_window_s`, across usernames
  (password spraying); past that it is refused until the window moves on.

Both answers are 429 with Retry-After. Memory is bounded: the oldest entries go first."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_ENTRIES = 10_000


class LoginGuard:
    def __init__(self, lockout_failures: int, lockout_s: float, throttle_failures: int, throttle_window_s: float,
                 clock=time.monotonic):
        self.lockout_failures, self.lockout_s = lockout_failures, lockout_s
        self.throttle_failures, self.window_s = throttle_failures, throttle_window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._names: OrderedDict[str, tuple[int, float]] = OrderedDict()   # name -> (failures, locked until)
        self._addrs: OrderedDict[str, deque] = OrderedDict()               # address -> failure times

    def refused_for(self, username: str, address: str) -> tuple[str, float] | None:
        """(reason, retry after s) when this attempt must not even be checked, else None."""
        now = self._clock()
        with self._lock:
            times = self._addrs.get(address)
            if times is not None:
                while times and times[0] <= now - self.window_s:
                    times.popleft()
                if len(times) >= self.throttle_failures:
                    return "throttled", times[0] + self.window_s - now
            _, until = self._names.get(_key(username), (0, 0.0))
            if until > now:
                return "locked", until - now
        return None

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            key = _key(username)
            count, _ = self._names.pop(key, (0, 0.0))
            count += 1
            until = now + self.lockout_s if count >= self.lockout_failures else 0.0
            self._names[key] = (0 if until else count, until)
            self._addrs.setdefault(address, deque()).append(now)
            self._addrs.move_to_end(address)
            for table in (self._names, self._addrs):
                while len(table) > MAX_ENTRIES:
                    table.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._names.pop(_key(username), None)


def _key(username: str) -> str:
    return username.strip().lower()[:64]


class SharedLoginGuard:
    """LoginGuard's two limits kept in the database (tables login_names and
    login_address_failures), so several workers behind one load balancer count one set of
    attempts: a second worker does not double what an attacker may try. Same answers as LoginGuard;
    times are wall-clock seconds (the workers' clocks are NTP-synchronised)."""

    def __init__(self, db, lockout_failures: int, lockout_s: float, throttle_failures: int,
                 throttle_window_s: float, clock=time.time):
        self.db = db
        self.lockout_failures, self.lockout_s = lockout_failures, lockout_s
        self.throttle_failures, self.window_s = throttle_failures, throttle_window_s
        self._clock = clock

    def refused_for(self, username: str, address: str) -> tuple[str, float] | None:
        from sqlalchemy import func, select

        from fleet_server.storage.models import LoginAddressFailure, LoginName
        now = self._clock()
        with self.db.read() as s:
            n, oldest = s.execute(select(func.count(), func.min(LoginAddressFailure.at)).where(
                LoginAddressFailure.address == address[:64], LoginAddressFailure.at > now - self.window_s)).one()
            if n >= self.throttle_failures:
                return "throttled", max(0.0, oldest + self.window_s - now)
            row = s.get(LoginName, _key(username))
            if row is not None and row.locked_until > now:
                return "locked", row.locked_until - now
        return None

    def failed(self, username: str, address: str) -> None:
        from sqlalchemy import delete
        from sqlalchemy.exc import IntegrityError

        from fleet_server.storage.models import LoginAddressFailure, LoginName
        now, key = self._clock(), _key(username)
        for attempt in range(3):
            try:
                with self.db.session() as s:
                    s.add(LoginAddressFailure(address=address[:64], at=now))
                    s.execute(delete(LoginAddressFailure).where(LoginAddressFailure.address == address[:64],
                                                                LoginAddressFailure.at <= now - self.window_s))
                    row = s.get(LoginName, key, with_for_update=True)
                    if row is None:
                        row = LoginName(key=key, failures=0, locked_until=0.0)
                        s.add(row)
                    count = row.failures + 1
                    locked = count >= self.lockout_failures
                    row.failures, row.locked_until = (0, now + self.lockout_s) if locked else (count, 0.0)
                return
            except IntegrityError:   # another worker counted the same new username first: count again
                if attempt == 2:
                    raise

    def succeeded(self, username: str) -> None:
        from sqlalchemy import delete

        from fleet_server.storage.models import LoginName
        with self.db.session() as s:
            s.execute(delete(LoginName).where(LoginName.key == _key(username)))
