"""The gateway's sink over the server's IncidentService and device registry: a verified SOS by SMS
goes through the same ingest_alarm as an MQTT alarm (so the two copies of one alarm fold into one
incident on (dev, boot, seq)); a citizen's text becomes a non-emergency report; an AML location
becomes a located report for the operator handling the 112 call (see docs/gsm.md for what the
server should add). Transient failures raise, so the gateway keeps the SMS and retries."""
from __future__ import annotations

import logging
import time
from typing import Callable

from fleet_server.domain.center import usable_number
from fleet_server.domain.service import IncidentService, Refused
from fleet_server.logs import event
from fleet_server.sms import aml

log = logging.getLogger("siaga.sms.sink")


# AML positioning method -> the protocol's location sources (a handset fix is "gps" for any GNSS).
AML_SOURCE = {"gnss": "gps", "fused": "gps", "wifi": "wifi", "cell": "cell", "none": "none"}


class IncidentSink:
    def __init__(self, service: IncidentService, clock: Callable[[], float] = time.time):
        self.service = service
        self.clock = clock
        self.results: list = []  # the last ingest results, for whoever watches (bounded)

    def key_for(self, device_id: str) -> bytes | None:
        """The device's SMS key from the registry (hex in the database), None when unknown."""
        with self.service.store.read() as tx:
            d = tx.devices.get(device_id)
            if d is None or not d.active or not d.sms_key:
                return None
            try:
                return bytes.fromhex(d.sms_key)
            except ValueError:
                return None

    def on_alarm(self, alarm: dict, via: str, sender_masked: str) -> None:
        try:
            r = self.service.ingest_alarm(alarm, via, self.clock())
        except Refused as e:  # permanent: the device is not (or no longer) active
            event(log, logging.WARNING, "SOS by SMS refused", dev=alarm.get("dev"), code=e.code, reason=e.reason,
                  sender=sender_masked)
            return
        self.results = (self.results + [r])[-100:]
        event(log, logging.INFO, "SOS by SMS ingested", dev=alarm["dev"], incident=r.incident_id,
              created=r.created_incident, duplicate=r.duplicate_alarm)

    def on_aml(self, location: dict, sender: str, sender_masked: str, received_at: int) -> None:
        where = "no position" if not location.get("has_location") else "%s, %s m, %s%%" % (
            location.get("method"), location.get("radius_m"), location.get("confidence_pct"))
        radius = location.get("radius_m")
        self.service.caller_location(location.get("lat"), location.get("lon"), AML_SOURCE.get(location.get("method"), "cell"),
                                     int(radius) if radius is not None else None,
                                     "AML location of a 112 caller (%s)" % where, actor="sms:aml",
                                     reporter=sender, received_at=float(received_at),
                                     caller_number=usable_number(sender))
        event(log, logging.INFO, "AML stored", sender=sender_masked, **aml.log_fields(location))

    def on_text_report(self, text: str, sender: str, sender_masked: str, received_at: int) -> str | None:
        inc = self.service.report("unknown", text[:500], actor="sms", reporter=sender,
                                  received_at=float(received_at), caller_number=usable_number(sender),
                                  channel="sms")
        return str(inc)

    def on_rejected(self, rejection, kind: str, sender_masked: str) -> None:
        pass  # the gateway already logged it with its reason
