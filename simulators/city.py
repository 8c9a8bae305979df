"""Run a scenario against a broker and a fleet server: register its devices, start its buttons and
trackers (protocol-level, thousands per process), play its timeline at an acceleration factor, and
act as the operator where the scenario says (pranks are closed as pranks). Used by `siaga sim run`,
by `siaga demo` and by the city test."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from fleet_server.broker import Mosquitto, hash_password, new_secret
from simulators.api_client import FleetApi
from simulators.bench.results import percentiles
from simulators.fleet.button import SimButton
from simulators.fleet.tracker import SimTracker
from simulators.scenario import Scenario

log = logging.getLogger("siaga.city")
KMH = 1 / 3.6


@dataclass
class Credentials:
    passwords: dict[str, str] = field(default_factory=dict)


def provision(scenario: Scenario, api: FleetApi | None, broker: Mosquitto | None) -> Credentials:
    """Register every button and tracker of the scenario with the server and give each a broker
    account (a fresh secret; the server keeps only its hash)."""
    creds = Credentials()
    for b in scenario.buttons:
        pw = new_secret()
        creds.passwords[b.id] = pw
        if api:
            category = b.category or next(iter(b.keys.values()))
            api.register_device(id=b.id, kind="button", site=b.site, lat_udeg=b.lat_udeg, lon_udeg=b.lon_udeg,
                                category=category, broker_password_hash=hash_password(pw))
        if broker:
            broker.add_account(b.id, pw)
    for u in scenario.units:
        pw = new_secret()
        creds.passwords[u.tracker_id] = pw
        if api:
            home = scenario.stations[u.home]
            api.register_device(id=u.tracker_id, kind="tracker", site=u.callsign, lat_udeg=home.lat_udeg,
                                lon_udeg=home.lon_udeg, category=_unit_category(u.agency), agency=u.agency,
                                broker_password_hash=hash_password(pw))
        if broker:
            broker.add_account(u.tracker_id, pw)
    if broker:
        broker.reload()
    return creds


def _unit_category(agency: str) -> str:
    return {"police": "police", "fire": "fire", "medical": "medical", "sar": "sar", "disaster": "disaster"}[agency]


@dataclass
class Stats:
    alarms_sent: int = 0
    alarms_acked: int = 0
    pranks_closed: int = 0
    outages: int = 0
    scripted: list[tuple[str, tuple[int, int], str]] = field(default_factory=list)  # (button, key, kind)
    errors: list[str] = field(default_factory=list)

    def summary(self, buttons: dict[str, SimButton]) -> dict:
        lat = [x for b in buttons.values() for x in b.ack_latency_s]
        pct = percentiles([x * 1000 for x in lat])
        return {"alarms_sent": self.alarms_sent, "alarms_acked": sum(len(b.acked) for b in buttons.values()),
                "alarms_pending": sum(len(b.outbox) for b in buttons.values()),
                "pranks_closed": self.pranks_closed, "broker_outages": self.outages,
                "ack_ms_p50": pct["p50"], "ack_ms_p99": pct["p99"],
                "devices_connected": sum(1 for b in buttons.values() if b.client.is_connected)}


class CityRun:
    def __init__(self, scenario: Scenario, host: str, port: int, creds: Credentials, *, api: FleetApi | None = None,
                 broker: Mosquitto | None = None, speedup: float | None = None, heartbeat_s: float = 60.0,
                 resend_s: float = 3.0, with_trackers: bool = True):
        self.sc = scenario
        self.host, self.port = host, port
        self.creds = creds
        self.api = api
        self.broker = broker
        self.speedup = speedup or scenario.speedup
        self.stats = Stats()
        self.buttons = {b.id: SimButton(b.id, creds.passwords[b.id], host, port, lat=b.lat_udeg, lon=b.lon_udeg,
                                        category=b.category or next(iter(b.keys.values())),
                                        heartbeat_s=heartbeat_s, resend_s=resend_s,
                                        active_s=600.0 / self.speedup)
                        for b in scenario.buttons}
        self.trackers: dict[str, SimTracker] = {}
        if with_trackers:
            for u in scenario.units:
                home = scenario.stations[u.home]
                self.trackers[u.callsign] = SimTracker(
                    u.tracker_id, creds.passwords[u.tracker_id], host, port, lat=home.lat_udeg, lon=home.lon_udeg,
                    speed_mps=u.speed.siren_kmh * KMH, report_s=5.0, time_scale=self.speedup,
                    heartbeat_s=heartbeat_s)
        self._later: list[asyncio.Task] = []
        self.started_at = 0.0

    # ---- running ------------------------------------------------------------------------
    async def start(self) -> None:
        sem = asyncio.Semaphore(200)

        async def up(d):
            async with sem:
                await d.start()
        await asyncio.gather(*(up(d) for d in [*self.buttons.values(), *self.trackers.values()]))

    async def stop(self) -> None:
        for t in self._later:
            t.cancel()
        await asyncio.gather(*(d.stop() for d in [*self.buttons.values(), *self.trackers.values()]),
                             return_exceptions=True)

    async def play(self, on_tick=None, settle_s: float = 20.0) -> dict:
        """Play the timeline; then wait (bounded) for outstanding alarms to be acked and pranks closed."""
        self.started_at = time.monotonic()
        for ev in sorted(self.sc.timeline, key=lambda e: e.at):
            wait = ev.at / self.speedup - (time.monotonic() - self.started_at)
            while wait > 0:
                step = min(wait, 0.5)
                await asyncio.sleep(step)
                wait -= step
                if on_tick:
                    on_tick(self)
            try:
                self._apply(ev)
            except Exception as e:  # a scenario step that fails is reported, the city goes on
                log.exception("scenario event %s failed", ev)
                self.stats.errors.append(f"{ev.event}@{ev.at}: {e}")
        end = self.sc.duration_s / self.speedup
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and (time.monotonic() - self.started_at < end or self._busy()):
            await asyncio.sleep(0.5)
            if on_tick:
                on_tick(self)
        return self.stats.summary(self.buttons)

    def _busy(self) -> bool:
        return any(b.outbox for b in self.buttons.values()) or any(not t.done() for t in self._later)

    def _later_call(self, delay_s: float, coro_fn) -> None:
        async def run():
            await asyncio.sleep(delay_s)
            await coro_fn()
        self._later.append(asyncio.create_task(run()))

    # ---- events -------------------------------------------------------------------------
    def _apply(self, ev) -> None:
        kind = ev.event
        if kind in ("alarm", "prank"):
            b = self.buttons[ev.button]
            key = b.press(self.sc.alarm_category(ev), presses=getattr(ev, "presses", 1))
            self.stats.alarms_sent += 1
            self.stats.scripted.append((ev.button, key, kind))
            if kind == "prank":
                self._later_call(ev.close_after_s / self.speedup, lambda: self._close_prank(b, key))
        elif kind == "stuck":
            # As the firmware: the hold raises the one alarm; past stuck_s only the health flag.
            b = self.buttons[ev.button]
            key = b.press()
            b.jam(True)
            self.stats.alarms_sent += 1
            self.stats.scripted.append((ev.button, key, kind))
            self._later_call(ev.duration_s / self.speedup, lambda: self._unjam(b))
        elif kind == "tamper":
            b = self.buttons[ev.button]
            key = b.press("unknown", trig="tamper")
            self.stats.alarms_sent += 1
            self.stats.scripted.append((ev.button, key, kind))
        elif kind == "broker_outage":
            if self.broker is None:
                log.warning("broker outage skipped: this run does not own the broker")
                return
            self.broker.stop()
            self.stats.outages += 1
            self._later_call(ev.duration_s / self.speedup, self._broker_back)
        elif kind == "unit_out_of_service":
            t = self.trackers.get(ev.unit)
            if t:
                t.set_crew("oos")
                if ev.duration_s:
                    self._later_call(ev.duration_s / self.speedup, lambda: self._crew(t, "available"))
        elif kind == "rush_hour":
            for t in self.trackers.values():
                t.speed_mps *= ev.speed_factor
            factor = ev.speed_factor
            self._later_call(ev.duration_s / self.speedup, lambda: self._speed(factor))

    async def _unjam(self, b: SimButton) -> None:
        b.jam(False)

    async def _broker_back(self) -> None:
        await asyncio.to_thread(self.broker.start)

    async def _crew(self, t: SimTracker, crew: str) -> None:
        t.set_crew(crew)

    async def _speed(self, factor: float) -> None:
        for t in self.trackers.values():
            t.speed_mps /= factor

    async def _close_prank(self, b: SimButton, key: tuple[int, int]) -> None:
        """The operator recognises the prank and closes the incident it belongs to."""
        deadline = time.monotonic() + 60
        while key not in b.incident_of and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if key not in b.incident_of or self.api is None:
            self.stats.errors.append(f"prank {b.device_id}{key} was never acked; cannot close it")
            return
        inc = b.incident_of[key]
        try:
            await asyncio.to_thread(self.api.transition, inc, "prank", "scenario: known prank")
            self.stats.pranks_closed += 1
        except Exception as e:
            self.stats.errors.append(f"closing prank incident {inc}: {e}")
