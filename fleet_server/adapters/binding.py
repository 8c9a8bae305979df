"""From a third-party device's own identity to ours, and its Reports into our pipelines.

A third-party device is registered like any of ours (`siaga device` / POST /api/v1/devices, kind
`tracker`) under a device id derived from its protocol and identifier, and bound to its unit the
usual way (the unit's tracker):

    GT06 IMEI 864717003283581            -> gt06-864717003283581
    OsmAnd id 48241179                   -> osmand-48241179
    OwnTracks user jane, device nokia    -> owntracks-jane-nokia
    Traccar uniqueId 868120123456789     -> traccar-868120123456789

Positions go to the units pipeline (the unit bound to that device moves); emergency alarms go to
the incident service, which commits them deduplicated on (device, boot, seq) before deliver()
returns, so a transport acknowledges the device only after the incident exists."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from protocols import codec_json, topics
from protocols.messages import TS_MAX, TS_MIN
from protocols.rejection import Rejection, BAD_VALUE, UNKNOWN_DEVICE
from fleet_server.adapters.vocab import Report
from fleet_server.logs import event

log = logging.getLogger("siaga.adapters")

PROTOCOLS = ("gt06", "osmand", "owntracks", "traccar")


def device_id(protocol: str, ident: str) -> str | Rejection:
    if protocol not in PROTOCOLS:
        return Rejection(BAD_VALUE, "protocol %r is not one of %s" % (protocol, ", ".join(PROTOCOLS)))
    dev = protocol + "-" + str(ident).replace("/", "-")
    if not topics.valid_device_id(dev):
        return Rejection(BAD_VALUE, "%s identifier %r does not make a device id (letters, digits, - and _, "
                                    "at most %d characters)" % (protocol, str(ident)[:40], topics.DEVICE_ID_MAX))
    return dev


class Delivery:
    __slots__ = ("alarms", "incidents", "positions", "refused")

    def __init__(self):
        self.alarms = 0          # alarms committed (new or already known)
        self.incidents = []      # their incident ids
        self.positions = 0       # fixes that moved a unit
        self.refused = None      # a Rejection when an alarm could not be committed: do not acknowledge


class Pipeline:
    """service: the incident service (ingest_alarm(msg, via, received_at), committed on return);
    fleet: the units pipeline (handle("pos", msg, received_at)); known(device_id) -> bool, the
    device registry (registered and active);
    metrics: the server's Metrics, where every outcome is counted by protocol, kind and result."""

    METRIC = "siaga_adapter_reports_total"

    def __init__(self, service=None, fleet=None, known=None, metrics=None):
        self.service = service
        self.fleet = fleet
        self._known = known
        self.metrics = metrics
        if metrics is not None:
            metrics.counter(self.METRIC, "reports from third-party trackers and apps, by protocol, kind and result",
                            ["protocol", "kind", "result"])
        self.counts: Counter[str] = Counter()
        self._seen: dict[str, float] = {}
        self._offline: set[str] = set()   # devices this process marked offline (a last will)
        self._seen_lock = threading.Lock()

    def take_seen(self) -> dict[str, float]:
        """Last-heard times since the previous call, for the supervisor's batched last_seen update.
        (Online/offline is not derived from them: these devices' heartbeat intervals are their
        own, minutes for a parked GT06, longer for a phone, so silence would read as offline.)"""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        return seen

    def known(self, protocol: str, ident: str) -> bool:
        """Is this device registered and active? (The registry is behind the `known` port.)"""
        dev = device_id(protocol, ident)
        if isinstance(dev, Rejection) or self._known is None:
            return False
        return bool(self._known(dev))

    def deliver(self, protocol: str, reports: list[Report], received_at: float | None = None) -> Delivery:
        at = time.time() if received_at is None else received_at
        out = Delivery()
        for rep in reports:
            dev = device_id(protocol, rep.msg.get("dev", ""))
            if isinstance(dev, Rejection):
                self.note(protocol, rep.kind, dev)
                if rep.kind == "alarm":
                    out.refused = dev
                continue
            with self._seen_lock:
                self._seen[dev] = max(at, self._seen.get(dev, 0.0))
            if rep.kind == "alarm":
                self._alarm(protocol, dev, rep, at, out)
            elif rep.kind == "pos":
                self._position(protocol, dev, rep, at, out)
            elif rep.kind == "event":
                self.note(protocol, "event")
                event(log, logging.INFO, "tracker event", protocol=protocol, device=dev, kind=rep.alarm)
            elif rep.kind == "status":
                self._status(protocol, dev, rep.msg.get("state"), at)
            else:
                self.note(protocol, rep.kind)
            if rep.kind != "status" and dev in self._offline:
                self._status(protocol, dev, "online", at)
        return out

    def _status(self, protocol: str, dev: str, state, at: float) -> None:
        """A phone's last will or Traccar's deviceOffline marks the device offline in the registry;
        the next thing it says brings it back. (Every other frame's "online" is only counted: the
        registry's last-seen, flushed in batches, already says it was heard.)"""
        change = state == "offline" or (state == "online" and dev in self._offline)
        if not change or self.service is None:
            self.note(protocol, "status")
            return
        try:
            self.service.device_status(dev, state, at)
        except Exception as e:  # Refused (unknown device) or the database
            self.note(protocol, "status", Rejection(getattr(e, "code", "error"),
                                                    getattr(e, "reason", None) or type(e).__name__))
            return
        with self._seen_lock:
            (self._offline.add if state == "offline" else self._offline.discard)(dev)
        self.note(protocol, "status")

    def _alarm(self, protocol, dev, rep, at, out):
        msg = dict(rep.msg, dev=dev)
        if not TS_MIN <= msg["ts"] <= TS_MAX:
            # A tracker whose clock never synced still raised an SOS: it happened when it arrived.
            msg["ts"] = int(at)
        clean = codec_json.validate(msg)
        if isinstance(clean, Rejection):
            self.note(protocol, "alarm", clean)
            out.refused = clean
            return
        if self.service is None:
            out.refused = Rejection(UNKNOWN_DEVICE, "no incident service in this process")
            return
        try:
            res = self.service.ingest_alarm(clean, protocol, at)
        except Exception as e:  # Refused (unknown device) or the database: the device will send it again
            code = getattr(e, "code", "error")
            r = Rejection(code, getattr(e, "reason", None) or type(e).__name__)
            self.note(protocol, "alarm", r)
            out.refused = r
            return
        out.alarms += 1
        out.incidents.append(res.incident_id)
        self.note(protocol, "alarm")
        event(log, logging.INFO, "tracker alarm committed", protocol=protocol, device=dev, kind=rep.alarm,
              incident=res.incident_id, duplicate=res.duplicate_alarm)

    def _position(self, protocol, dev, rep, at, out):
        clean = codec_json.validate(dict(rep.msg, dev=dev))
        if isinstance(clean, Rejection):
            self.note(protocol, "pos", clean)
            return
        if self.fleet is None:
            self.note(protocol, "pos", Rejection(UNKNOWN_DEVICE, "no units pipeline in this process"))
            return
        r = self.fleet.handle("pos", clean, at)
        if isinstance(r, Rejection):
            self.note(protocol, "pos", r)
        else:
            out.positions += 1
            self.note(protocol, "pos")

    def note(self, protocol: str, kind: str, rejection: Rejection | None = None) -> None:
        """Count one outcome (a Rejection, or success when None); log the first few of each reason."""
        result = "ok" if rejection is None else rejection.code
        key = "%s.%s.%s" % (protocol, kind, result)
        self.counts[key] += 1
        if self.metrics is not None:
            self.metrics.inc(self.METRIC, protocol=protocol, kind=kind, result=result)
        n = self.counts[key]
        if rejection is not None and (n <= 3 or n % 1000 == 0):
            event(log, logging.INFO, "tracker report rejected", protocol=protocol, kind=kind, code=rejection.code,
                  reason=rejection.reason, count=n)
