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
from simulators.fleet.tracker import MAX_SHOWN_MPS, SimTracker
from simulators.scenario import Scenario

log = logging.getLogger("siaga.city")
KMH = 1 / 3.6


@dataclass
class Credentials:
    passwords: dict[str, str] = field(default_factory=dict)


class CityLive(RuntimeError):
    """The scenario's devices are online at the server: another simulator (a running demo) plays them."""


PAGE = 5000  # GET /devices answers at most this many a call


def live_devices(scenario: Scenario, api: FleetApi) -> list[str]:
    """The scenario's device ids the server shows online now, read page by page (bounded by the
    server's device count)."""
    ours = {b.id for b in scenario.buttons} | {u.tracker_id for u in scenario.units}
    online: list[str] = []
    for page in range(len(ours) // PAGE + 100):   # the server may hold more devices than the scenario
        r = api.http.get("/devices", params={"limit": PAGE, "offset": page * PAGE})
        r.raise_for_status()
        rows = r.json()
        online += [d["id"] for d in rows if d["id"] in ours and d["status"] == "online"]
        if len(rows) < PAGE:
            break
    return sorted(online)


def provision(scenario: Scenario, api: FleetApi | None, broker: Mosquitto | None) -> Credentials:
    """Register every button and tracker of the scenario with the server, give each a broker
    account (a fresh secret; the server keeps only its hash), and register every unit bound to its
    tracker, so the tracker's positions move the unit and dispatch can order it.

    Refused (CityLive), before anything changes, when some of its devices are online there: new
    passwords would lock out whatever simulator runs them now (the demo, playing the same city)."""
    if api:
        online = live_devices(scenario, api)
        if online:
            raise CityLive(f"{len(online)} of this scenario's devices are online at {api.base} "
                           f"({', '.join(online[:3])}{', ...' if len(online) > 3 else ''}): another simulator, a running "
                           "demo say, plays them, and registering them again would lock it out. Stop it, or run the "
                           "scenario against a server of its own.")
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
            api.register_unit(id=u.callsign, callsign=u.callsign, agency=u.agency, type=u.type,
                              home_station=home.name, home_lat=home.lat_udeg, home_lon=home.lon_udeg,
                              capabilities=list(u.capabilities), device_id=u.tracker_id)
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
    passes: int = 0          # timeline passes begun
    skipped: int = 0         # later-pass presses left out: every button was still inside its fold window

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
                 resend_s: float = 3.0, with_trackers: bool = True, refold_s: float = 300.0,
                 button_active_s: float | None = None):
        """refold_s: how long (real seconds) a button's alarm folds into its last one on the server
        (incidents.fold_window_s); button_active_s: the same on the button (the firmware's 600 s,
        accelerated, by default). Later passes press only buttons idle longer than both."""
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
                                        active_s=button_active_s or 600.0 / self.speedup)
                        for b in scenario.buttons}
        self.trackers: dict[str, SimTracker] = {}
        if with_trackers:
            for u in scenario.units:
                home = scenario.stations[u.home]
                self.trackers[u.callsign] = SimTracker(
                    u.tracker_id, creds.passwords[u.tracker_id], host, port, lat=home.lat_udeg, lon=home.lon_udeg,
                    speed_mps=u.speed.siren_kmh * KMH, report_s=5.0, time_scale=self.speedup,
                    heartbeat_s=heartbeat_s, max_shown_mps=MAX_SHOWN_MPS)
        self._later: list[asyncio.Task] = []
        self.started_at = 0.0
        # A button pressed again inside the device's active window or the server's fold window adds
        # to its last alarm instead of raising a new one: later passes pick buttons idle for longer.
        self.refold_s = max(refold_s, button_active_s or 600.0 / self.speedup)
        self.last_press: dict[str, float] = {}
        self._rng = random.Random(112)

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
        """Play the timeline once more (see pass_events); then wait (bounded) for outstanding alarms
        to be acked and pranks closed."""
        self.started_at = time.monotonic()
        self._later = [t for t in self._later if not t.done()]
        events = self.pass_events(self.stats.passes)
        self.stats.passes += 1
        for ev in events:
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

    # Later passes keep these events only every Nth pass: pranks now and then, an outage rarely.
    REPEAT_EVERY = {"prank": 3, "stuck": 5, "tamper": 5, "broker_outage": 10}

    def pass_events(self, n: int) -> list:
        """The events of pass n (0 = the timeline as written). A looping city stays believable:
        later passes press the buttons that have been idle longest (alarms from the same few buttons
        would only fold into their open incidents), and keep pranks, tamper, the stuck button and
        the broker outage only every few passes."""
        events = sorted(self.sc.timeline, key=lambda e: e.at)
        if n == 0:
            return events
        return [ev for ev in events if n % self.REPEAT_EVERY.get(ev.event, 1) == 0]

    def _button_for(self, ev) -> tuple[SimButton, str | None] | None:
        """The button that presses for this event and the category it reports; None when every
        button is still inside its fold window (a later pass then leaves the press out)."""
        if self.stats.passes <= 1:
            category = self.sc.alarm_category(ev) if ev.event in ("alarm", "prank") else None
            return self.buttons[ev.button], category
        now = time.monotonic()
        idle = sorted(b for b in self.buttons if now - self.last_press.get(b, -1e12) >= self.refold_s)
        if not idle:
            return None
        spec = self.sc.button(self._rng.choice(idle))
        category = spec.category or self._rng.choice(sorted(spec.keys.values()))
        return self.buttons[spec.id], category

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
        if kind in ("alarm", "prank", "stuck", "tamper"):
            chosen = self._button_for(ev)
            if chosen is None:
                self.stats.skipped += 1
                return
            b, category = chosen
            self.last_press[b.device_id] = time.monotonic()
        if kind in ("alarm", "prank"):
            key = b.press(category, presses=getattr(ev, "presses", 1))
            self.stats.alarms_sent += 1
            self.stats.scripted.append((b.device_id, key, kind))
            if kind == "prank":
                self._later_call(ev.close_after_s / self.speedup, lambda: self._close_prank(b, key))
        elif kind == "stuck":
            # As the firmware: the hold raises the one alarm; past stuck_s only the health flag.
            key = b.press()
            b.jam(True)
            self.stats.alarms_sent += 1
            self.stats.scripted.append((b.device_id, key, kind))
            self._later_call(ev.duration_s / self.speedup, lambda: self._unjam(b))
        elif kind == "tamper":
            key = b.press("unknown", trig="tamper")
            self.stats.alarms_sent += 1
            self.stats.scripted.append((b.device_id, key, kind))
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
        await asyncio.to_thread(self._restart_broker)

    def _restart_broker(self) -> None:
        """Start the broker again with every account its password file holds now: devices a
        technician provisioned while the city ran are in it (written from the server's records),
        not in this run's memory, and must not lose their login to the restart."""
        passwd = self.broker.workdir / "passwd"
        known = set(self.broker.accounts)
        for line in passwd.read_text().splitlines() if passwd.is_file() else ():
            user, sep, pw_hash = line.partition(":")
            if sep and user not in known:
                self.broker.add_hashed(user, pw_hash)
        self.broker.start()

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


class Colleagues:
    """The other operators on shift, for a city that runs for hours (the demo). Without them every
    alarm nobody acknowledged escalates after a minute and the queue fills with them. They work
    the older part of the queue the way a busy shift does, and never the newest alarms:

    - a new alarm older than ack_after_s is acknowledged, except one in leave_every, which waits
      until late_ack_s: escalation (at a minute) shows now and then, for a while, and does not
      fill the queue's first group with "escalated" until the alarms are closed;
    - an incident on scene for resolve_after_s is resolved;
    - an alarm still new or acknowledged after close_after_s, with no unit sent, is closed as
      cancelled: handled on the phone.

    Incidents with a unit on the way are left to whoever sent it."""

    def __init__(self, api: FleetApi, *, ack_after_s: float = 40.0, leave_every: int = 4,
                 late_ack_s: float = 100.0, resolve_after_s: float = 60.0, close_after_s: float = 240.0,
                 every_s: float = 5.0, clock=time.time):
        self.api = api
        self.ack_after_s, self.leave_every, self.late_ack_s = ack_after_s, leave_every, late_ack_s
        self.resolve_after_s, self.close_after_s = resolve_after_s, close_after_s
        self.every_s = every_s
        self.clock = clock
        self.done: dict[str, int] = {"acknowledged": 0, "resolved": 0, "cancelled": 0}
        self.errors: list[str] = []

    def steps(self, incidents: list[dict], now: float) -> list[tuple[int, str, str | None]]:
        """(incident, target state, reason) for what the colleagues do now. Pure: the tests read it."""
        out = []
        for inc in incidents:
            c, state = inc["clocks"], inc["state"]
            age = now - (c.get("received_at") or now)
            if state in ("new", "acknowledged") and age >= self.close_after_s:
                out.append((inc["id"], "cancelled", "handled on the phone by a colleague: no unit needed"))
            elif state == "new" and age >= self.ack_after_s and (inc["id"] % self.leave_every or age >= self.late_ack_s):
                out.append((inc["id"], "acknowledged", None))
            elif state == "onscene" and now - (c.get("onscene_at") or now) >= self.resolve_after_s:
                out.append((inc["id"], "resolved", None))
        return out

    def work_once(self) -> None:
        for inc, state, reason in self.steps(self.api.incidents(open=True), self.clock()):
            try:
                self.api.transition(inc, state, reason)
                self.done[state] += 1
            except Exception as e:  # the dispatcher got there first: fine, the next look sees it
                self.errors.append(f"{inc} -> {state}: {e}")
                del self.errors[:-20]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await asyncio.to_thread(self.work_once)
            except Exception as e:  # the server restarting, say: try again at the next look
                log.warning("colleagues could not read the queue: %s", e)
