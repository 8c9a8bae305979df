"""The alarm path on its own: the database, the incident service with the station areas, and the
MQTT ingest's alarm lane. `siaga serve` starts it before the HTTP app (FastAPI, the console, the
API routes, units and dispatch) is even imported, so buttons whose alarms waited on the broker
through a restart get their acks from the first second; create_app then takes these parts over
and wires the rest to them.

What stays true while the rest starts: an alarm is committed (routed to its station by the areas,
loaded first) before its ack; the alarm lane alone is connected, so positions, health and
command results wait on the broker for the units and dispatch they need; the incident events of
the alarms handled meanwhile are held and handed, in order, to the app's listeners (live feed,
metrics, dispatch) once they are wired (HeldEvents).

Only imports of the alarm path at module level: this module must stay light."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from fleet_server.logs import event
from fleet_server.metrics import Metrics
from fleet_server.settings import Settings

log = logging.getLogger("siaga.app")


class HeldEvents:
    """A listener of the incident service that holds its events until release(), then hands
    those and every later one to `listeners`, in the order they were emitted."""

    def __init__(self):
        self.listeners: list = []
        self._held: list[dict] | None = []
        self._lock = threading.Lock()

    def __call__(self, ev: dict) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(ev)
                return
        self._deliver(ev)

    def release(self) -> int:
        """Deliver what was held (returned: how many); from now on events go straight through."""
        with self._lock:   # an event emitted meanwhile waits here, then follows the held ones
            held, self._held = self._held or [], None
            for ev in held:
                self._deliver(ev)
        return len(held)

    def _deliver(self, ev: dict) -> None:
        for fn in list(self.listeners):
            try:
                fn(ev)
            except Exception as e:  # a listener's bug must not undo a committed incident
                event(log, logging.ERROR, "event listener failed", error=repr(e))


def load_jurisdiction(path):
    """The station areas (another module's work); None when not configured or not installed."""
    if not path or not Path(path).exists():
        if path:
            event(log, logging.WARNING, "station areas not found: every incident goes to the command center", path=str(path))
        return None
    try:
        from fleet_server.domain.jurisdiction import Jurisdiction
    except ImportError:
        event(log, logging.WARNING, "jurisdiction module missing: every incident goes to the command center")
        return None
    return Jurisdiction.load(path)


def for_worker(settings: Settings) -> Settings:
    """One of several workers logs in to the broker with its own server account,
    <username>-<worker id> (each session then <that>-alarms, ...: client ids are bound to accounts)."""
    if not settings.clustered or not settings.broker.username:
        return settings
    broker = settings.broker.model_copy(update={"username": f"{settings.broker.username}-{settings.worker.id}"})
    return settings.model_copy(update={"broker": broker})


class AlarmCore:
    """open(): the database (migrated to head) and the incident service. start_alarms(): that and
    the MQTT ingest with its alarm lane connected. The app's lifespan uses the parts and calls
    events.release() once its listeners are wired."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None):
        """settings: this worker's (for_worker applied)."""
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.events = HeldEvents()
        self.db = None
        self.service = None
        self.ingest = None

    def open(self) -> "AlarmCore":
        if self.db is not None:
            return self
        from fleet_server.domain.service import IncidentService, Rules
        from fleet_server.sms import keys as sms_keys
        from fleet_server.storage.db import Database
        from fleet_server.storage.repositories import SqlIncidentStore

        s = self.settings
        self.db = Database(s.sqlalchemy_url, seal_key=sms_keys.load_or_create(sms_keys.key_path(s.data_dir,
                                                                                               s.sms.key_file)))
        sms_keys.seal_stored(self.db)   # keys a version before sealing stored in the clear
        # The run cards (the console's checklists) are not on the alarm path: the app loads them.
        self.service = IncidentService(SqlIncidentStore(self.db), Rules.from_settings(s.incidents),
                                       load_jurisdiction(s.incidents.jurisdiction_file))
        self.service.listeners.append(self.events)
        return self

    def start_alarms(self) -> "AlarmCore":
        """The alarm lane up, acking alarms committed from now on (one Mosquitto; the other
        transports start with the app)."""
        from fleet_server.ingest.mqtt_link import MqttIngest

        self.open()
        self.ingest = MqttIngest(self.settings, self.service, self.metrics)
        self.ingest.start_alarms()
        event(log, logging.INFO, "alarm ingest started ahead of the HTTP app", epoch=self.ingest.epoch)
        return self

    def close(self) -> None:
        """Only when the app never took the parts over (it closes them itself)."""
        if self.ingest:
            self.ingest.stop()
        if self.db:
            self.db.dispose()


def start_early(settings: Settings) -> AlarmCore | None:
    """`siaga serve`: the alarm path first, when this process runs the MQTT ingest on Mosquitto."""
    if not settings.ingest.run or settings.broker.transport != "mosquitto":
        return None
    return AlarmCore(for_worker(settings)).start_alarms()
