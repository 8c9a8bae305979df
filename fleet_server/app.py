"""create_app(settings) -> FastAPI. Long-lived parts (database, MQTT link, supervisor) live in the
lifespan: opened at start (migrations run to head), closed at shutdown."""
from __future__ import annotations

import logging
from pathlib import Path
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from fleet_server.api.routes import auth, devices, feed, incidents, records
from fleet_server.console.router import router as console_router
from fleet_server.units import api as units_api
from fleet_server.api.security import jwt_secret
from fleet_server.domain.service import IncidentService, Rules
from fleet_server.events import EventBus, EventPump
from fleet_server.ingest import MqttIngest
from fleet_server.ingest.supervisor import Supervisor
from fleet_server.logs import event
from fleet_server.metrics import Metrics
from fleet_server.server_settings import ServerSettings
from fleet_server.settings import Settings
from fleet_server.storage import users as user_repo
from fleet_server.storage.db import Database

log = logging.getLogger("siaga.app")
API = "/api/v1"


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


def create_app(settings: Settings | None = None, server_settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or Settings()
    tuning = server_settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        st = app.state
        st.db = Database(settings.sqlalchemy_url)
        st.jwt_secret = jwt_secret(settings.jwt_secret, settings.data_dir)
        st.service = IncidentService(st.db, Rules.from_settings(settings), load_jurisdiction(tuning.jurisdiction_file))
        st.service.listeners.append(st.events.publish)
        _bootstrap_admin(st.db, tuning.admin_bootstrap)
        st.ingest = MqttIngest(settings, tuning, st.service, st.metrics) if tuning.run_ingest else None
        st.link_up = (lambda: st.ingest.link_up) if st.ingest else (lambda: False)
        st.fleet = _start_units(st, settings) if tuning.run_units else None
        st.supervisor = Supervisor(st.service, tuning.supervise_every_s,
                                   st.ingest.take_seen if st.ingest else (lambda: {}))
        if st.ingest:
            st.ingest.start()
        st.supervisor.start()
        st.sms = _start_sms_gateway(st.service, settings) if settings.sms_port else None
        event(log, logging.INFO, "fleet server started", db=st.db.dialect,
              epoch=st.ingest.epoch if st.ingest else None)
        try:
            yield
        finally:
            if st.sms:
                st.sms.stop()
            st.supervisor.stop()
            if st.ingest:
                st.ingest.stop()
            if st.fleet:
                st.dispatch_pump.close()
                st.fleet.close()
            st.db.dispose()

    app = FastAPI(title="Siaga 112 fleet server", version="1", lifespan=lifespan, openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.server_settings = tuning
    app.state.events = EventBus()
    app.state.metrics = Metrics()
    app.state.started = time.time()

    api = APIRouter(prefix=API)
    api.include_router(auth.router)
    api.include_router(incidents.router)
    api.include_router(devices.router)
    api.include_router(records.router)
    api.include_router(feed.router)
    api.include_router(units_api.router)
    app.include_router(api)
    app.include_router(console_router)

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
                "epoch": st.ingest.epoch if st.ingest else None}
        return JSONResponse(body, status_code=200 if db_ok else 503)

    @app.get("/metrics", openapi_extra={"x-required-role": "public"})
    def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def _start_sms_gateway(service, settings):
    """The center's SMS modem (docs/gsm.md): signed SOS, AML caller locations and citizens' texts
    enter the same incident service as MQTT alarms; the replay windows survive restarts on disk."""
    from fleet_server.sms.gateway import JsonReplayStore, SmsGateway
    from fleet_server.sms.incident_sink import IncidentSink

    sink = IncidentSink(service)
    gw = SmsGateway(settings.sms_port, sink, sink.key_for, JsonReplayStore(settings.data_dir / "sms_replay.json"),
                    baudrate=settings.sms_baudrate, reply=settings.sms_reply, sweep_s=settings.sms_sweep_s,
                    pin=settings.sms_pin or None)
    event(log, logging.INFO, "SMS gateway starting", port=settings.sms_port)
    return gw.start()


def _start_units(st, settings):
    """Units, tracking and dispatch (docs/dispatch.md), wired to the core through events only:
    the ingest hands it pos/crew/cmdres, the bridge links incidents and dispatch both ways, its
    throttled unit positions go to the live feed."""
    from dataclasses import replace

    from fleet_server.dispatch.incident_bridge import IncidentBridge
    from fleet_server.units.fleet import Fleet, config_from_settings

    config = config_from_settings(settings)
    # The core already tells the incident's buttons "dispatched" / "near" on every transition,
    # whoever made it; dispatch sending them too would double every LED change.
    config = replace(config, assignments=replace(config.assignments, button_feedback=False))

    def publish(topic: str, payload: bytes, qos: int):
        if st.ingest is None:
            raise RuntimeError("no broker link in this process (run_ingest is off)")
        return st.ingest.client.publish(topic, payload, qos=qos)

    fleet = Fleet(st.db.engine, publish=publish, config=config)
    bridge = IncidentBridge(fleet, st.service, forward=st.events.publish)
    fleet.dispatch.on_event = bridge.on_dispatch_event
    # Dispatch works out recommendations per incident event (milliseconds each): on its own
    # thread, so the ingest acks without waiting for it (measured: 80 -> 1,000 alarms/s).
    st.dispatch_pump = EventPump(bridge.on_service_event, name="dispatch-events")
    st.service.listeners.append(st.dispatch_pump)
    st.metrics.gauge("siaga_dispatch_event_backlog", "incident events waiting for dispatch",
                     lambda: st.dispatch_pump.backlog)
    fleet.feed.subscribe(st.events.publish)
    if st.ingest:
        st.ingest.fleet = fleet
    return fleet.start()


def _bootstrap_admin(db: Database, spec: str) -> None:
    if not spec or ":" not in spec:
        return
    from fleet_server.api.routes.auth import create_user_record
    username, password = spec.split(":", 1)
    with db.read() as s:
        if user_repo.listing(s):
            return
    create_user_record(db, username, password, "admin", "system")
