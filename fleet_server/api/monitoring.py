"""What a city alerts on (docs/deploy.md, "Monitoring"; rules in deploy/prometheus/): the incident
clocks against the promise, incidents past it right now, devices by kind and status, logins
refused, and the SMS gateway's traffic. The ingest and the HTTP edge count their own
(fleet_server/ingest/mqtt_link.py, fleet_server/api/edge.py).

Read at scrape time from the database: numbers the supervisor keeps current (device status every
few seconds) rather than counters that would restart at zero with the process."""
from __future__ import annotations

import time

from fleet_server.domain import lifecycle
from fleet_server.metrics import PROMISE_BUCKETS, Metrics
from fleet_server.storage import counts
from fleet_server.storage.db import Database

CLOCKS = "siaga_incident_clock_seconds"
# The clock a transition stops -> its name on the histogram, all measured from receipt.
CLOCK_OF = {"acknowledged": ("to_acknowledge", "acknowledged_at"), "dispatched": ("to_dispatch", "dispatched_at"),
            "onscene": ("to_onscene", "onscene_at")}


def install(metrics: Metrics, db: Database, promise_s: float, clock=time.time) -> "IncidentClocks":
    metrics.counter("siaga_login_refused_total", "logins refused, by reason (wrong_credentials, locked, throttled)",
                    ["reason"])
    metrics.gauges("siaga_devices", "registered active devices by kind and stored status (online, offline, unknown)",
                   ["kind", "status"], lambda: devices_by_kind(db))
    metrics.gauges("siaga_incidents_open", "open incidents by type and state", ["type", "state"],
                   lambda: open_incidents(db))
    metrics.gauge("siaga_incidents_past_promise", "open emergencies received longer ago than the promise "
                  "with no unit on scene", lambda: past_promise(db, promise_s, clock()))
    metrics.gauge("siaga_response_promise_seconds", "the response promise the rules alert against", lambda: promise_s)
    metrics.histogram(CLOCKS, "incident clocks from receipt: to_acknowledge, to_dispatch, to_onscene",
                      PROMISE_BUCKETS, ["clock", "type"])
    return IncidentClocks(metrics)


class IncidentClocks:
    """A listener of the incident service: each transition that stops a clock observes it."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def __call__(self, ev: dict) -> None:
        if ev.get("type") != "incident" or ev.get("event") != "transition":
            return
        inc = ev["incident"]
        clock = CLOCK_OF.get(inc["state"])
        clocks = inc["clocks"]
        if clock is None or clocks.get(clock[1]) is None or clocks.get("received_at") is None:
            return
        self.metrics.observe(CLOCKS, clocks[clock[1]] - clocks["received_at"], clock=clock[0], type=inc["type"])


def devices_by_kind(db: Database) -> dict:
    with db.read() as s:
        return counts.devices_by_kind_and_status(s)


def open_incidents(db: Database) -> dict:
    with db.read() as s:
        return counts.incidents_by_type_and_state(s, lifecycle.OPEN)


def past_promise(db: Database, promise_s: float, now: float) -> int:
    """Open emergencies received longer than the promise ago, no unit on scene yet."""
    waiting = tuple(st for st in lifecycle.OPEN if st != "onscene")
    with db.read() as s:
        return counts.emergencies_received_before(s, waiting, now - promise_s)


def count_sms(metrics: Metrics, gateway) -> None:
    """The replies the SMS gateway sent (its own tally, SmsGateway.stats); what it received and
    refused is counted by the sink it hands messages to (CountingSink)."""
    metrics.counted_elsewhere("siaga_sms_sent_total", "confirmation SMS sent by the gateway", [],
                              lambda: {(): gateway.stats.get("replies", 0)})


def sms_sink_counting(sink_class):
    """A subclass of the gateway's sink that counts what it is handed: siaga_sms_received_total
    {kind: alarm, aml, text} and siaga_sms_rejected_total{kind, reason} (a rejection's code)."""

    class CountingSink(sink_class):
        def __init__(self, metrics: Metrics, *args, **kw):
            super().__init__(*args, **kw)
            self.metrics = metrics
            metrics.counter("siaga_sms_received_total", "SMS accepted by the gateway, by kind", ["kind"])
            metrics.counter("siaga_sms_rejected_total", "SMS refused by the gateway, by kind and reason",
                            ["kind", "reason"])

        def on_alarm(self, alarm, via, sender_masked):
            super().on_alarm(alarm, via, sender_masked)
            self.metrics.inc("siaga_sms_received_total", kind="alarm")

        def on_aml(self, location, sender, sender_masked, received_at):
            super().on_aml(location, sender, sender_masked, received_at)
            self.metrics.inc("siaga_sms_received_total", kind="aml")

        def on_text_report(self, text, sender, sender_masked, received_at):
            ref = super().on_text_report(text, sender, sender_masked, received_at)
            self.metrics.inc("siaga_sms_received_total", kind="text")
            return ref

        def on_rejected(self, rejection, kind, sender_masked):
            super().on_rejected(rejection, kind, sender_masked)
            self.metrics.inc("siaga_sms_rejected_total", kind=kind, reason=rejection.code)

    return CountingSink
