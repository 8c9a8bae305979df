"""create_app(settings) -> FastAPI. Long-lived parts (database, MQTT link, supervisor) live in the
lifespan: opened at start (migrations run to head), closed at shutdown. `siaga serve` opens the
alarm path (fleet_server/core.py: database, incident service, the ingest's alarm lane) before
this module is imported and hands it over: create_app(settings, core=...)."""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from fleet_server.api import monitoring, refusals
from fleet_server.api.edge import Edge
from fleet_server.api.refusals import HttpRefused
from fleet_server.api.throttle import LoginGuard, SharedLoginGuard
from fleet_server.api.routes import (auth, callers, center, devices, escalation, feed, forwards, incidents, records,
                                      sop as sop_routes, units)
from fleet_server.api.security import jwt_secret
from fleet_server.cluster import leases
from fleet_server.cluster.leases import Leases
from fleet_server.console.router import router as console_router
from fleet_server.core import AlarmCore, for_worker, load_jurisdiction  # noqa: F401 (load_jurisdiction: public here too)
from fleet_server.domain.assignments import AssignmentConfig
from fleet_server.domain.eta import EtaModel
from fleet_server.domain.fleet import Fleet, FleetConfig
from fleet_server.domain.forwarding import ForwardRules
from fleet_server.domain.forwards import Forwarding
from fleet_server.domain.incident_bridge import IncidentBridge
from fleet_server.domain.recommend import RecommenderConfig
from fleet_server.domain import sop
from fleet_server.domain.tracking import TrackingConfig
from fleet_server.events import EventBus, EventPump
from fleet_server.ingest import MqttIngest
from fleet_server.ingest.supervisor import Supervisor
from fleet_server.logs import event
from fleet_server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from fleet_server.releases import api as releases_api
from fleet_server.adapters import registration as tracker_registration
from fleet_server.settings import Settings
from fleet_server.storage import devices as device_repo
from fleet_server.storage import users as user_repo
from fleet_server.storage.db import Database
from fleet_server.storage.units import PositionBatcher, UnitStore
from fleet_server.telemetry import TelemetryConfig, TelemetryWriter

log = logging.getLogger("siaga.app")
API = "/api/v1"


def _ingest_class(settings: Settings):
    """The ingest transport the broker settings select: one Mosquitto, or the NATS cluster."""
    transport = settings.broker.transport
    if transport == "nats":
        from fleet_server.ingest.nats_link import NatsIngest
        return NatsIngest
    if transport != "mosquitto":
        raise ValueError(f"broker.transport is {transport!r}: it takes mosquitto or nats")
    return MqttIngest


def create_app(settings: Settings | None = None, core: AlarmCore | None = None) -> FastAPI:
    """core: the alarm path already running (`siaga serve`); else the lifespan opens it."""
    settings = core.settings if core else for_worker(settings or Settings())
    given = core

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        st = app.state
        # The database and the incident service: already open under `serve`, else opened here.
        core = st.core = (given or AlarmCore(settings, st.metrics)).open()
        st.db, st.service = core.db, core.service
        # The incident service's events reach the app's listeners through the core: those of the
        # alarms handled while the app was starting are held until the listeners are all wired.
        st.listen = core.events.listeners.append
        st.jwt_secret = jwt_secret(settings.auth.jwt_secret, settings.data_dir)
        if settings.incidents.sop_dir:
            st.service.run_cards = sop.load_dir(settings.incidents.sop_dir)
        st.service.forwarding = Forwarding(st.service, ForwardRules.from_settings(settings.incidents))
        st.listen(st.events.publish)
        st.leases = Leases(st.db.engine, settings.worker_name, ttl_s=settings.worker.lease_ttl_s,
                           renew_s=settings.worker.lease_renew_s)
        st.listen(monitoring.install(st.metrics, st.db, settings.incidents.response_promise_s))
        _bootstrap_admin(st.db, settings.auth.admin_bootstrap)
        if st.db.dialect == "postgresql":   # several workers may answer logins: count them together
            a = settings.auth
            st.login_guard = SharedLoginGuard(st.db, a.lockout_failures, a.lockout_s, a.throttle_failures,
                                              a.throttle_window_s)
        st.ingest = core.ingest or (_ingest_class(settings)(settings, st.service, st.metrics)
                                    if settings.ingest.run else None)
        st.link_up = (lambda: st.ingest.link_up) if st.ingest else (lambda: False)
        st.fleet = _start_units(st, settings) if settings.units.run else None
        st.adapters = None

        def take_seen() -> dict:
            seen = st.ingest.take_seen() if st.ingest else {}
            return {**seen, **st.adapters.take_seen()} if st.adapters else seen

        st.ota, st.campaigns = _start_updates(st, settings) if st.ingest else (None, None)
        st.supervisor = Supervisor(st.service, settings.incidents.supervise_every_s, take_seen,
                                   lease=st.leases.lease(leases.SUPERVISION), fenced=leases.fenced)
        st.cluster = _start_cluster_feed(st, settings)
        held = core.events.release()   # every listener is wired (the cluster relay too)
        if st.ingest:
            st.ingest.start()
        st.supervisor.start()
        st.sms = None
        st.leases.on_change(lambda name, held: _on_lease(st, settings, name, held))
        st.leases.start()
        st.adapters, st.gt06, st.owntracks = await _start_adapters(st, settings)
        event(log, logging.INFO, "fleet server started", db=st.db.dialect,
              epoch=st.ingest.epoch if st.ingest else None, events_held_at_start=held)
        try:
            yield
        finally:
            if st.gt06:
                await st.gt06.stop()
            if st.owntracks:
                st.owntracks.stop()
            st.leases.stop()    # first: the other workers take the duties over at once
            if st.sms:
                st.sms.stop()
            st.supervisor.stop()
            if st.cluster:
                st.cluster.stop()
            if st.ota:
                st.ota_ticks.set()
                st.ota.stop()
            if st.ingest:
                st.ingest.stop()
            if st.fleet:
                st.dispatch_pump.close()
                st.fleet.close()
            st.db.dispose()

    # No /docs or /redoc: those pages run inline script from a CDN, which the console's
    # Content-Security-Policy (fleet_server/api/edge.py) refuses; /openapi.json stays.
    app = FastAPI(title="Siaga 112 fleet server", version="1", lifespan=lifespan, openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.events = EventBus()
    app.state.metrics = given.metrics if given else Metrics()
    app.state.started = time.time()
    a = settings.auth
    app.state.login_guard = LoginGuard(a.lockout_failures, a.lockout_s, a.throttle_failures, a.throttle_window_s)

    api = APIRouter(prefix=API)
    api.include_router(auth.router)
    api.include_router(center.router)
    api.include_router(callers.router)
    api.include_router(sop_routes.router)
    api.include_router(escalation.router)
    api.include_router(forwards.router)
    api.include_router(incidents.router)
    api.include_router(devices.router)
    api.include_router(records.router)
    api.include_router(feed.router)
    api.include_router(units.router)
    api.include_router(releases_api.router)
    api.include_router(tracker_registration.router)
    app.include_router(api)
    app.include_router(console_router)
    if settings.adapters.http:
        from fleet_server.adapters.http import router as adapters_router
        app.include_router(adapters_router)
    refusals.install(app)

    @app.get("/healthz", openapi_extra={"x-required-role": "public"})
    def healthz(request: Request) -> Response:
        st = request.app.state
        try:
            with st.db.read() as s:
                s.execute(text("SELECT 1"))
            db_ok = True
        except Exception as e:  # report, do not raise: this is what the probe is for
            event(log, logging.ERROR, "health check: database unreachable", error=repr(e))
            db_ok = False
        body = {"status": "ok" if db_ok else "degraded", "database": db_ok, "broker_link": st.link_up(),
                "epoch": st.ingest.epoch if st.ingest else None, "worker": settings.worker_name,
                "leases": st.leases.snapshot() if hasattr(st, "leases") else {}}
        return JSONResponse(body, status_code=200 if db_ok else 503)

    @app.get("/metrics", openapi_extra={"x-required-role": "public"})
    def metrics(request: Request) -> Response:
        """Prometheus exposition; with http.metrics_token set, only for `Authorization: Bearer <it>`."""
        want = request.app.state.settings.http.metrics_token
        if want:
            got = request.headers.get("authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {want}".encode()):
                raise HttpRefused(401, "not_authenticated", "/metrics needs the metrics bearer token",
                                  headers={"WWW-Authenticate": "Bearer"})
        return Response(request.app.state.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    refusals.document(app)
    app.add_middleware(Edge, settings=settings, metrics=app.state.metrics)
    return app


def _start_updates(st, settings):
    """Over-the-air updates: the update link serving release files, and the campaign engine it
    reports to, whose gates are evaluated every second (docs/ota.md)."""
    import threading

    from fleet_server.releases.campaign_store import CampaignStore
    from fleet_server.releases.campaigns import CampaignEngine
    from fleet_server.releases.serve import OtaServer, ReleaseFiles
    from fleet_server.releases.store import DiskReleaseStore, releases_dir

    root = releases_dir(settings.data_dir)
    engine = CampaignEngine(CampaignStore(st.db), DiskReleaseStore(root), lambda *a: server.offer(*a),
                            st.events.publish)
    campaigns = st.leases.lease(leases.CAMPAIGNS)

    def on_report(dev: str, msg: dict) -> None:
        # Every worker's update link hears every report (no shared subscription there yet): the
        # campaigns lease's holder alone records it and moves the gate.
        if campaigns.held():
            with leases.fenced(campaigns):
                engine.on_report(dev, msg)

    up = settings.updates
    server = OtaServer(settings.broker, ReleaseFiles(root), on_report, parts_per_s=up.parts_per_s or None,
                       alarm_quiet_s=up.alarm_quiet_s).start()
    st.ingest.on_alarm = server.alarm_seen     # alarms first: parts wait while one is handled
    st.ota_ticks = threading.Event()

    def ticks():
        while not st.ota_ticks.wait(1.0):
            if not campaigns.held():
                continue   # another worker checks the gates
            try:
                with leases.fenced(campaigns):
                    engine.tick()
            except Exception as e:   # a database hiccup must not end the gate's clock
                event(log, logging.ERROR, "campaign gate check failed", error=repr(e)[:200])

    threading.Thread(target=ticks, name="siaga-campaigns", daemon=True).start()
    return server, engine


def _start_sms_gateway(db, service, settings, metrics):
    """The center's SMS modem (docs/gsm.md): signed SOS, AML caller locations and citizens' texts
    enter the same incident service as MQTT alarms; the replay windows survive restarts in the
    database (a replay-window file of an earlier server is imported first, once)."""
    from fleet_server.sms.gateway import SmsGateway
    from fleet_server.sms.incident_sink import IncidentSink
    from fleet_server.sms.replay_file import import_replay_file
    from fleet_server.storage.sms_replay import DatabaseReplayStore

    sink = monitoring.sms_sink_counting(IncidentSink)(metrics, service)
    sms = settings.sms
    replay = DatabaseReplayStore(db)
    import_replay_file(settings.data_dir / "sms_replay.json", replay)
    gw = SmsGateway(sms.port, sink, sink.key_for, replay,
                    baudrate=sms.baudrate, reply=sms.reply, sweep_s=sms.sweep_s, pin=sms.pin or None)
    monitoring.count_sms(metrics, gw)
    event(log, logging.INFO, "SMS gateway starting", port=sms.port)
    return gw.start()


def _start_units(st, settings):
    """Units, tracking and dispatch (docs/dispatch.md), wired to the core through events only:
    the ingest hands it pos/crew/cmdres, the bridge links incidents and dispatch both ways, its
    throttled unit positions go to the live feed."""
    from dataclasses import replace

    config = config_from_settings(settings)
    # The core already tells the incident's buttons "dispatched" / "near" on every transition,
    # whoever made it; dispatch sending them too would double every LED change.
    config = replace(config, assignments=replace(config.assignments, button_feedback=False))

    def publish(topic: str, payload: bytes, qos: int):
        if st.ingest is None:
            raise RuntimeError("no broker link in this process (run_ingest is off)")
        return st.ingest.client.publish(topic, payload, qos=qos)

    fleet = open_fleet(st.db.engine, publish, config, telemetry=TelemetryConfig.from_settings(settings.telemetry))
    bridge = IncidentBridge(fleet, st.service, forward=st.events.publish)
    fleet.dispatch.on_event = bridge.on_dispatch_event
    # Dispatch works out recommendations per incident event (milliseconds each): on its own
    # thread, so the ingest acks without waiting for it (measured: 80 -> 1,000 alarms/s).
    st.dispatch_pump = EventPump(bridge.on_service_event, name="dispatch-events")
    st.listen(st.dispatch_pump)
    st.metrics.gauge("siaga_dispatch_event_backlog", "incident events waiting for dispatch",
                     lambda: st.dispatch_pump.backlog)
    fleet.feed.subscribe(st.events.publish)
    if st.ingest:
        st.ingest.fleet = fleet
    fleet.dispatch.lease = st.leases.lease(leases.DISPATCH)
    fleet.retention_lease = st.leases.lease(leases.RETENTION)
    return fleet.start()


async def _start_adapters(st, settings):
    """Trackers and apps the city already has (docs/adapters.md): their reports enter the same
    incident service and units tracking as our own devices."""
    from fleet_server.adapters.binding import Pipeline

    a = settings.adapters
    def known(device_id: str) -> bool:
        with st.db.read() as s:
            d = device_repo.get(s, device_id)
            return d is not None and d.active

    pipeline = Pipeline(st.service, st.fleet, known=known, metrics=st.metrics)
    st.owntracks_key = None
    if a.owntracks_key:
        from fleet_server.adapters.owntracks.decoder import secret_key
        st.owntracks_key = secret_key(a.owntracks_key)
    gt06 = owntracks = None
    if a.gt06_port:
        from fleet_server.adapters.gt06.server import Gt06Server
        gt06 = await Gt06Server(pipeline, a.gt06_host, a.gt06_port, idle_timeout_s=a.gt06_idle_timeout_s,
                                strict_crc=a.gt06_strict_crc).start()
        st.metrics.gauge("siaga_gt06_connections", "GT06 tracker connections open", lambda: gt06.connections)
    if a.owntracks_mqtt:
        from fleet_server.adapters.owntracks.mqtt_link import OwnTracksLink
        from fleet_server.broker.mosquitto import session_user
        from fleet_server.ingest.mqtt_link import session_login
        b = settings.broker
        link = OwnTracksLink(pipeline, b.host, b.port, b.username, b.password, key=st.owntracks_key,
                             client_id=session_user(b.client_id, "owntracks"))
        session_login(link.client, b, "owntracks")   # its own account (bound client id) and TLS
        owntracks = await asyncio.to_thread(link.start)
    return pipeline, gt06, owntracks


def _on_lease(st, settings, name: str, held: bool) -> None:
    """A singleton duty gained or lost by this worker (fleet_server/cluster/leases.py)."""
    if name == leases.SMS and settings.sms.port:
        if held and st.sms is None:
            st.sms = _start_sms_gateway(st.db, st.service, settings, st.metrics)
        elif not held and st.sms is not None:
            sms, st.sms = st.sms, None
            sms.stop()
    elif name == leases.DISPATCH and held and st.fleet is not None:
        st.fleet.dispatch.reload()   # orders placed through the other workers
    elif name == leases.PRESENCE and held and st.ingest is not None and settings.clustered:
        st.ingest.announce()


def _start_cluster_feed(st, settings):
    """Several workers on PostgreSQL: each one's live events reach the others' feeds and caches
    (fleet_server/cluster/notify.py). Alone on SQLite there is no one to tell."""
    if st.db.dialect != "postgresql":
        return None
    from fleet_server.cluster.notify import ClusterFeed

    def deliver(ev: dict) -> None:
        st.events.publish_local(ev)
        kind = ev.get("type", "")
        if kind == "device" and st.ingest is not None:
            st.ingest.devices_changed()
        elif kind == "unit.position" and st.fleet is not None:
            st.fleet.apply_remote_position(ev)
        elif kind.startswith("dispatch.") and st.fleet is not None and st.leases.held(leases.DISPATCH):
            st.fleet.dispatch.reload()

    feed = ClusterFeed(st.db.engine, settings.worker_name, deliver).start()
    st.events.relay = feed.publish
    st.metrics.gauge("siaga_cluster_events_sent", "live events sent to the other workers", lambda: feed.sent)
    st.metrics.gauge("siaga_cluster_events_received", "live events received from the other workers",
                     lambda: feed.received)
    return feed


def config_from_settings(s: Settings) -> FleetConfig:
    """The fleet's rules from the settings' units and dispatch sections."""
    units, dispatch = s.units, s.dispatch
    return FleetConfig(
        tracking=TrackingConfig(stale_after_s=units.stale_after_s),
        recommend=RecommenderConfig(max_fix_age_s=units.stale_after_s),
        assignments=AssignmentConfig(ack_timeout_s=dispatch.ack_timeout_s,
                                     onscene_radius_m=dispatch.onscene_radius_m,
                                     near_radius_m=dispatch.near_radius_m,
                                     auto_dispatch=frozenset(a for a in dispatch.auto_agencies.split(",") if a),
                                     button_feedback=dispatch.button_feedback),
        history_retention_s=units.history_retention_s,
        feed_interval_s=units.feed_interval_s,
    )


def open_fleet(engine, publish, config: FleetConfig | None = None, *, telemetry: TelemetryConfig | None = None,
               persist_batch: int = 500, persist_delay_s: float = 0.5, on_event=None,
               eta: EtaModel | None = None) -> Fleet:
    """The fleet on its database: units and dispatch's journal in the unit store, accepted fixes
    batched into the history (and to telemetry when configured)."""
    store = UnitStore(engine)
    return Fleet(publish, config, on_event, eta, store=store, journal=store,
                 batcher=PositionBatcher(store, persist_batch, persist_delay_s),
                 telemetry=TelemetryWriter(telemetry) if telemetry else None)


def _bootstrap_admin(db: Database, spec: str) -> None:
    if not spec or ":" not in spec:
        return
    from fleet_server.api.routes.auth import create_user_record
    username, password = spec.split(":", 1)
    with db.read() as s:
        if user_repo.listing(s):
            return
    create_user_record(db, username, password, "admin", "system")
