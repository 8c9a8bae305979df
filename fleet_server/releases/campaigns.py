"""Rollouts of a firmware release: a campaign targets the devices of the release's kind (narrowed
by board, site, agency or a list of ids), in waves. `steps` are cumulative percentages of those devices:
[5, 25, 100] offers the release to a 5 % canary, then to 25 %, then to all. Devices are put in
waves by a hash of their id and the version, so a canary is spread across the city, not the first
ids in alphabetical order, and the same campaign definition gives the same waves.

The health gate of a wave: within gate_s of its offers, every device of the wave has been
confirmed (its trial boot reconnected, passed its self-test and sent a heartbeat from the new
release: serve.py confirms only then) and reports an empty outbox (its alarms are still acked).
A device whose registered board the release does not carry is never offered it (left out at
creation and counted in `not_offered`, or `skipped` at its wave if its board changed since).
A device that rolls back or refuses, or a wave not healthy in time, halts the campaign: no device
outside the waves already offered is touched, an alert goes on the live feed and in the log.
Every step (create, each offer and device state, widen, halt, complete) is audited."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Callable

from fleet_server.logs import event
from fleet_server.releases.campaign_store import CampaignStore
from fleet_server.i18n import N_, Message
from fleet_server.releases.manifest import ReleaseError

log = logging.getLogger("siaga.releases.campaigns")
BAD = ("rolled_back", "refused")
ORDER = ("waiting", "offered", "downloading", "verified", "switched", "trial", "confirmed")
SKIPPED = "skipped"      # not offered: its registered board is not among the release's


class CampaignError(ReleaseError):
    pass


def waves(ids: list[str], version: str, steps: list[int]) -> dict[str, int]:
    """device id -> wave index. Wave k ends at steps[k] % of the devices (at least one device)."""
    order = sorted(ids, key=lambda d: hashlib.sha256(f"{version}/{d}".encode()).digest())
    out, start = {}, 0
    for k, pct in enumerate(steps):
        end = len(order) if pct >= 100 else max(start + 1, (len(order) * pct + 99) // 100)
        for d in order[start:end]:
            out[d] = k
        start = max(start, end)
    return out


def check_steps(steps: list[int]) -> None:
    if not steps or steps[-1] != 100 or any(not (0 < p <= 100) for p in steps) or steps != sorted(set(steps)):
        raise CampaignError(Message(N_("steps {steps} must rise strictly to 100 (cumulative percentages, "
                                       "e.g. [5, 25, 100])"), steps=steps))


class CampaignEngine:
    def __init__(self, store: CampaignStore, releases, offer: Callable[[str, str, int], None],
                 alert: Callable[[dict], None], clock: Callable[[], float] = time.time):
        self.store = store
        self.releases = releases          # ReleaseStore: what may be offered
        self.offer = offer
        self.alert = alert
        self.clock = clock
        self._lock = threading.RLock()

    # ---- the technician's side --------------------------------------------------------------
    def create(self, actor: str, version: str, site: str | None = None, agency: str | None = None,
               devices: list[str] | None = None, steps: list[int] | None = None, trial_s: int = 300,
               gate_s: int = 900, board: str | None = None) -> dict:
        steps = steps or [5, 25, 100]
        check_steps(steps)
        rel = self.releases.detail(version, None)          # NotFound names the version
        if rel["withdrawn"]:
            raise CampaignError(Message(N_("release {version} is withdrawn: it is offered to no device"),
                                         version=version))
        if not 10 <= trial_s <= 86400 or gate_s < trial_s:
            raise CampaignError(Message(N_("trial_s must be 10..86400 and gate_s at least trial_s")))
        if board and board not in rel["boards"]:
            raise CampaignError(Message(N_("release {version} carries no files for board {board} (its boards: "
                                           "{boards})"), version=version, board=board, boards=", ".join(rel["boards"])))
        matching = [t for t in self.store.targets(rel["kind"], site, agency, devices, board)
                    if not (t["firmware"] or "").endswith("-" + version)]
        # The server offers a release only to a device whose board it carries; a device whose board
        # is not registered (older than the board column) is offered and decides itself (wrong_board).
        wrong = sorted(t["id"] for t in matching if t["board"] and t["board"] not in rel["boards"])
        targets = [t for t in matching if t["id"] not in set(wrong)]
        if not targets:
            nobody = (N_("no active {kind} matches (site={site}, agency={agency}, board={board}, devices={devices}) "
                         "that does not already run {version} and whose board the release carries ({n} other board)")
                      if wrong else
                      N_("no active {kind} matches (site={site}, agency={agency}, board={board}, devices={devices}) "
                         "that does not already run {version}"))
            raise CampaignError(Message(nobody, kind=rel["kind"], site=site, agency=agency, board=board,
                                        devices=devices, version=version, n=len(wrong)))
        w = waves([t["id"] for t in targets], version, steps)
        for t in targets:
            t["wave"] = w[t["id"]]
        target = {k: v for k, v in (("site", site), ("agency", agency), ("board", board), ("devices", devices)) if v}
        not_offered = {"wrong_board": wrong} if wrong else {}
        with self._lock:
            cid = self.store.create({"version": version, "kind": rel["kind"], "target": target, "steps": steps,
                                     "trial_s": trial_s, "gate_s": gate_s, "not_offered": not_offered}, targets,
                                    actor, self.clock())
            event(log, logging.INFO, "firmware campaign created", campaign=cid, version=version, devices=len(targets),
                  wrong_board=len(wrong), by=actor)
            self._offer_wave(self.store.get(cid), 0)
        out = self.store.get(cid)
        out["not_offered"] = not_offered
        return out

    def halt(self, cid: int, actor: str, why: str) -> dict:
        with self._lock:
            c = self.store.get(cid)
            if c is None:
                raise CampaignError(Message(N_("campaign {cid} not found"), cid=cid))
            if c["state"] == "running":
                self._halt(c, why, actor)
            return self.store.get(cid)

    # ---- devices' side ----------------------------------------------------------------------
    def on_report(self, dev: str, msg: dict) -> None:
        """A device's update report (serve.py hands every one here)."""
        with self._lock:
            cid = self.store.running_for(dev, msg["ver"])
            if cid is None:
                return
            state = msg["state"]
            if state == "trial" and msg.get("self") is not True:
                state, msg = "refused", dict(msg, why="self-test failed: " + msg.get("why", ""))
            if state not in ORDER and state not in BAD:
                return
            self.store.set_device(cid, dev, state, msg.get("why"), self.clock())
            self.tick(cid)

    def tick(self, only: int | None = None) -> None:
        """Evaluate the gate of every running campaign's current wave (the app calls this every
        second; a report calls it for its campaign)."""
        with self._lock:
            for c in self.store.running():
                if only is None or c["id"] == only:
                    self._gate(c)

    def _gate(self, c: dict) -> None:
        wave = [d for d in self.store.devices(c["id"], c["wave"]) if d["state"] != SKIPPED]
        bad = [d for d in wave if d["state"] in BAD]
        if bad:
            d = bad[0]
            return self._halt(c, f"{len(bad)} device(s) of wave {c['wave']} failed: {d['device']} {d['state']}"
                                 f" ({d['why'] or 'no reason given'})")
        confirmed = [d["device"] for d in wave if d["state"] == "confirmed"]
        now = self.clock()
        if len(confirmed) == len(wave):
            health = self.store.health(confirmed)
            stuck = [d for d in confirmed if (health.get(d, {}).get("outbox") or 0) > 0]
            if not stuck:
                if c["wave"] + 1 < len(c["steps"]):
                    self.store.update(c["id"], "system", "widen", now, detail=f"wave {c['wave'] + 1}",
                                      wave=c["wave"] + 1, wave_started=now)
                    event(log, logging.INFO, "firmware campaign widens", campaign=c["id"], wave=c["wave"] + 1)
                    return self._offer_wave(self.store.get(c["id"]), c["wave"] + 1)
                self.store.update(c["id"], "system", "complete", now, state="completed")
                event(log, logging.INFO, "firmware campaign completed", campaign=c["id"], version=c["version"])
                return self.alert({"type": "ota.campaign", "campaign": c["id"], "version": c["version"],
                                   "state": "completed", "at": now})
            if now - c["wave_started"] > c["gate_s"]:
                return self._halt(c, f"alarms not flowing: {stuck[0]} reports {len(stuck)} alarm(s) unacked")
        elif now - c["wave_started"] > c["gate_s"]:
            late = [d["device"] for d in wave if d["state"] != "confirmed"]
            self._halt(c, f"{len(late)} device(s) of wave {c['wave']} not confirmed within {c['gate_s']} s: "
                          + ", ".join(late[:5]))

    def _offer_wave(self, c: dict, k: int) -> None:
        if self.releases.detail(c["version"], None)["withdrawn"]:
            return self._halt(c, f"release {c['version']} was withdrawn: wave {k} is not offered")
        carried = self.releases.detail(c["version"], None)["boards"]
        wave = self.store.devices(c["id"], k)
        boards = self.store.boards([d["device"] for d in wave])
        for d in wave:
            if d["state"] != "waiting":
                continue
            board = boards.get(d["device"])
            if board and board not in carried:
                # re-registered on another board since the campaign was made: never offered
                self.store.set_device(c["id"], d["device"], SKIPPED, f"wrong_board {board} (server)", self.clock())
                event(log, logging.WARNING, "firmware release not offered", campaign=c["id"], device=d["device"],
                      board=board, why="the release carries no files for this board")
                continue
            self.offer(d["device"], c["version"], c["trial_s"])
            self.store.set_device(c["id"], d["device"], "offered", None, self.clock())

    def _halt(self, c: dict, why: str, actor: str = "system") -> None:
        now = self.clock()
        self.store.update(c["id"], actor, "halt", now, detail=why, state="halted", halted_why=why[:200])
        event(log, logging.ERROR, "firmware campaign halted", campaign=c["id"], version=c["version"], why=why,
              by=actor)
        self.alert({"type": "ota.alert", "campaign": c["id"], "version": c["version"], "state": "halted",
                    "why": why, "at": now})

