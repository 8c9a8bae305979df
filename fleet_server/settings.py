"""The server side's one settings object, in sections (`settings.broker.host`,
`settings.dispatch.ack_timeout_s`, ...). Read from, strongest first:

1. keyword arguments (tests, the demo);
2. environment variables `SIAGA_<SECTION>__<FIELD>` (e.g. `SIAGA_BROKER__HOST`);
3. the flat environment names documented in docs/server.md (e.g. `SIAGA_MQTT_HOST`): each field's
   flat name is its section's `flat_prefix` plus the field name, unless the field names its own;
4. the TOML file `SIAGA_CONFIG` (default `./siaga.toml`): one table per section (`[broker]`), or
   the same flat names at the top level.

Each default is written here once; unknown keys in the TOML file are an error, not a silent no-op."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "SIAGA_"


def flat(name: str) -> dict:
    """json_schema_extra for a field whose flat environment name is not prefix + field name."""
    return {"flat": name}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flat_prefix: ClassVar[str] = ""

    @classmethod
    def flat_names(cls) -> dict[str, str]:
        """{flat name: field name}, e.g. {"mqtt_host": "host"}."""
        out = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            out[extra.get("flat") or cls.flat_prefix + name] = name
        return out


class Database(Section):
    flat_prefix = "database_"
    url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir")


class Broker(Section):
    flat_prefix = "mqtt_"
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = Field("fleet-server", description="the server's account; each session logs in as this name "
                                                         "plus its suffix (fleet_server.broker.SERVER_SESSIONS)")
    password: str = ""
    client_id: str = Field("siaga-fleet-server", description="client id prefix, for a broker that does not bind "
                                                              "client ids to accounts (the project's broker does)")
    tls: bool = Field(False, description="connect over TLS (on when ca_file is set)")
    ca_file: Path | None = Field(None, description="CA certificate (PEM) the broker's certificate must chain to; "
                                                    "empty with tls: the system's CAs")
    keepalive_s: int = 30
    clean_session: bool = Field(False, description="persistent session: the broker keeps alarms while the server is down")
    reconnect_min_s: int = Field(1, json_schema_extra=flat("reconnect_min_s"))
    reconnect_max_s: int = Field(30, json_schema_extra=flat("reconnect_max_s"))
    transport: str = Field("mosquitto", description="mosquitto: one MQTT broker (host, port); "
                                                    "nats: the clustered broker (fleet_server/broker/nats_cluster.py): "
                                                    "uplinks from nats_servers, downlinks over MQTT at host, port")
    nats_servers: str = Field("", description="with transport nats: the cluster's NATS URLs, comma-separated")


class Http(Section):
    """The web edge: HTTPS when a certificate is given (else behind a TLS-terminating proxy,
    deploy/nginx), the security headers and who may read /metrics."""
    flat_prefix = "http_"
    host: str = "127.0.0.1"
    port: int = 8112
    tls_certfile: str = Field("", description="PEM certificate chain: serve HTTPS (with tls_keyfile)")
    tls_keyfile: str = Field("", description="PEM private key of tls_certfile")
    forwarded_allow_ips: str = Field("127.0.0.1", description="proxies whose X-Forwarded-For/-Proto are believed")
    hsts_s: int = Field(31536000, ge=0, description="Strict-Transport-Security max-age on HTTPS answers; 0: none")
    metrics_token: str = Field("", description="bearer token /metrics requires; empty: /metrics is public")


class Auth(Section):
    jwt_secret: str = Field("", description="HMAC key for access tokens; generated into data_dir when empty")
    token_ttl_s: int = 12 * 3600
    admin_bootstrap: str = Field("", description="'user:password' creates that admin at start when no user exists")
    lockout_failures: int = Field(5, ge=1, description="wrong passwords in a row that lock a username")
    lockout_s: float = Field(300.0, gt=0, description="how long a locked username is refused")
    throttle_failures: int = Field(20, ge=1, description="failed logins one client address may make per throttle_window_s")
    throttle_window_s: float = Field(60.0, gt=0)


class Incidents(Section):
    """The incident rules (field names are those of fleet_server.domain.service.Rules) and their clocks."""
    fold_radius_m: float = 150.0
    fold_window_s: int = 300
    escalate_after_s: float = Field(15.0, description="unacknowledged this long: escalated to the operator's supervisor "
                                                     "(NENA-STA-020: 90 % of calls answered within 15 s)")
    escalate_head_after_s: float = Field(60.0, description="unacknowledged this long: escalated to the center head")
    response_promise_s: int = 300
    prank_flag_threshold: int = 3
    heartbeat_misses_offline: int = 2
    button_heartbeat_s: int = 300
    tracker_heartbeat_s: int = 60
    forward_accept_s: float = Field(120.0, gt=0, description="a forward to a station unaccepted this long escalates up "
                                                            "the chain (Polsek -> Polres -> the center's supervisor)")
    forward_accept_by_agency: str = Field("", description="per agency: agency=seconds, comma separated (e.g. "
                                                          "polri=60,dinkes=30); others take forward_accept_s")
    forward_auto_agencies: str = Field("", description="agencies whose emergencies are forwarded to their station on "
                                                       "routing, comma separated, or 'all'; empty: the operator forwards")
    supervise_every_s: float = Field(5.0, description="how often heartbeats, escalations and last-seen are checked")
    stats_utc_offset_h: int = Field(7, description="statistics count local days (WIB = UTC+7)")
    handoff_channels: str = Field("", description="where non-emergency reports are handed off: code=Name, comma "
                                                  "separated; empty: fleet_server.domain.center.DEFAULT_CHANNELS")
    jurisdiction_file: Path | None = Field(REPO_ROOT / "fleet_server" / "data" / "bandung",
                                           description="station areas: a GeoJSON file or a directory of them (default: "
                                                       "the Bandung sample); empty: the command center takes every incident")
    sop_dir: Path | None = Field(REPO_ROOT / "fleet_server" / "data" / "sop",
                                 description="run cards (SOPs) per agency and incident type: a YAML file or a directory "
                                             "of them, validated at start; empty: no run cards")


class Ingest(Section):
    flat_prefix = "ingest_"
    run: bool = Field(True, description="connect to the broker; off for an API-only process",
                      json_schema_extra=flat("run_ingest"))
    batch: int = Field(200, description="most alarms committed in one transaction under load")
    command_ttl_s: int = Field(600, description="a feedback command older than this is stale on the device",
                               json_schema_extra=flat("command_ttl_s"))
    store_retry_s: float = Field(60.0, description="how long a message is retried while the database is "
                                                   "unreachable (a failover) before the device's resend is left to "
                                                   "bring it again")
    # Fault injection for the crash tests only: wait this long between commit and ack, so a test
    # can SIGKILL the server in exactly that gap. Always 0 in production.
    fault_delay_ack_s: float = Field(0.0, json_schema_extra=flat("fault_delay_ack_s"))


class Updates(Section):
    """Over-the-air updates: the update link (fleet_server/releases/serve.py; docs/ota.md)."""
    flat_prefix = "ota_"
    parts_per_s: float = Field(0.0, description="most release parts (768 B each) the update link sends a second, "
                               "the whole fleet together; 0: as fast as devices ask")
    alarm_quiet_s: float = Field(0.2, description="after an alarm reaches this process, the update link sends no "
                                 "part for this long: the alarm's handling and ack go first")


class Units(Section):
    """Units and tracking (fleet_server/units; docs/dispatch.md)."""
    flat_prefix = "unit_"
    run: bool = Field(True, description="units, tracking and dispatch in this process", json_schema_extra=flat("run_units"))
    stale_after_s: float = Field(120.0, description="a unit with no fix for this long is stale: never recommended")
    history_retention_s: float = 30 * 86400
    feed_interval_s: float = Field(1.0, description="at most one position event per unit per interval on the feed")


class Dispatch(Section):
    flat_prefix = "dispatch_"
    ack_timeout_s: float = Field(60.0, description="no accept within this time: propose the next unit, alert")
    onscene_radius_m: float = 100.0
    near_radius_m: float = 500.0
    auto_agencies: str = Field("", description="comma-separated agencies dispatched without a dispatcher")
    button_feedback: bool = True


class Sms(Section):
    """The center's SMS gateway modem (fleet_server/sms; docs/gsm.md). Empty port: no gateway."""
    flat_prefix = "sms_"
    port: str = ""
    baudrate: int = 115200
    pin: str = ""
    reply: bool = Field(True, description="answer each SOS and report with a confirmation SMS")
    sweep_s: float = Field(30.0, description="re-read the modem's SMS store this often, in case a +CMTI was lost")
    key_file: Path | None = Field(None, description="the key sealing the devices' SMS keys in the database "
                                                     "(default: <data_dir>/secrets/sms_seal.key, made when missing)")


class Adapters(Section):
    """Trackers and apps the city already has (fleet_server/adapters; docs/adapters.md)."""
    flat_prefix = "adapters_"
    gt06_port: int = Field(0, ge=0, le=65535, description="TCP port for GT06 (Concox) trackers; 0: no listener")
    gt06_host: str = Field("127.0.0.1", description="address the GT06 listener binds (0.0.0.0 for trackers on the internet)")
    gt06_idle_timeout_s: float = Field(600.0, gt=0, description="close a tracker connection silent this long")
    gt06_strict_crc: bool = Field(True, description="refuse frames whose CRC-ITU is wrong (false: accept as Traccar does)")
    http: bool = Field(True, description="serve /adapters/osmand, /adapters/owntracks and /adapters/traccar")
    owntracks_mqtt: bool = Field(False, description="read OwnTracks phones on owntracks/<user>/<device> from the broker")
    owntracks_key: str = Field("", description="OwnTracks encryption passphrase; empty: encrypted payloads are refused")


class Telemetry(Section):
    """InfluxDB v2 write API; empty url: positions only in the database."""
    flat_prefix = "influx_"
    url: str = ""
    token: str = "siaga"
    org: str = "siaga"
    bucket: str = "telemetry"


class Console(Section):
    """What the console's presentation depends on. The thresholds are the dispatcher's colour cues
    against the 5-minute promise: a waiting incident turns amber, then red, before the promise is
    broken, so there is still time to act."""
    flat_prefix = "console_"
    amber_after_s: int = Field(120, ge=1, description="queue clock turns amber after this many seconds")
    red_after_s: int = Field(240, ge=1, description="queue clock turns red after this many seconds")
    stale_fix_s: int = Field(120, ge=1, description="a unit whose last fix is older is drawn grey")
    tile_url: str = Field("", description="optional XYZ tile URL; empty draws the city from station areas")
    tile_attribution: str = ""
    map_center: tuple[float, float] = (-6.9110, 107.6097)   # Bandung Command Center
    map_zoom: int = 13
    sound: bool = True
    language: Literal["en", "id"] = Field("en", description="the center's language: the login page's, and every "
                                         "user's who has not chosen one (en English, id Bahasa Indonesia)")

    @model_validator(mode="after")
    def _amber_before_red(self):
        if self.amber_after_s >= self.red_after_s:
            raise ValueError(f"amber_after_s ({self.amber_after_s}) must be below red_after_s ({self.red_after_s})")
        return self


class Log(Section):
    flat_prefix = "log_"
    json_lines: bool = Field(True, json_schema_extra=flat("log_json"))
    level: str = "INFO"


class Worker(Section):
    """Several `siaga serve` workers on one PostgreSQL and one broker (docs/deploy.md, "Several
    workers"). Empty id: the one and only worker, as before."""
    flat_prefix = "worker_"
    id: str = Field("", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$|^$",
                    description="this worker's name (w1, w2, ...): set, the worker logs in to the broker as "
                                "<mqtt_username>-<id> (its own server account), shares the device traffic "
                                "with the other workers through MQTT v5 shared subscriptions and runs "
                                "singleton duties only under a lease")
    share_group: str = Field("fleet", pattern=r"^[a-z0-9-]{1,32}$",
                             description="the shared-subscription group ($share/<group>/...) the workers form")
    lease_ttl_s: float = Field(3.0, gt=0, description="a lease not renewed for this long is free: another worker "
                                                      "takes the duty over")
    lease_renew_s: float = Field(1.0, gt=0, description="how often leases are renewed and free ones sought")
    session_expiry_s: int = Field(0, ge=0, description="MQTT v5 session expiry of a worker's sessions: 0 ends "
                                  "the session with the connection, so a dead worker holds no alarms; the "
                                  "devices' outboxes resend them to the living workers")


def default_data_dir() -> Path:
    """Where runtime state lives when data_dir is not set: the directory systemd made for the
    service (StateDirectory=siaga sets STATE_DIRECTORY, /var/lib/siaga; deploy/systemd), else
    run/ of the source checkout this code runs from (development), else ./run: an installed
    package never writes into site-packages."""
    state = os.environ.get("STATE_DIRECTORY", "")
    if state:
        return Path(state.split(":")[0])
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "run"
    return Path.cwd() / "run"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir, description="runtime state: database, broker files, "
                           "logs (default: $STATE_DIRECTORY under systemd, else run/ of the checkout, else ./run)")
    shared_data: Path = Field(REPO_ROOT.parent / "shared" / "data", description="third-party captures read by tests")
    database: Database = Field(default_factory=Database)
    broker: Broker = Field(default_factory=Broker)
    http: Http = Field(default_factory=Http)
    auth: Auth = Field(default_factory=Auth)
    incidents: Incidents = Field(default_factory=Incidents)
    ingest: Ingest = Field(default_factory=Ingest)
    updates: Updates = Field(default_factory=Updates)
    units: Units = Field(default_factory=Units)
    dispatch: Dispatch = Field(default_factory=Dispatch)
    sms: Sms = Field(default_factory=Sms)
    adapters: Adapters = Field(default_factory=Adapters)
    telemetry: Telemetry = Field(default_factory=Telemetry)
    console: Console = Field(default_factory=Console)
    log: Log = Field(default_factory=Log)
    worker: Worker = Field(default_factory=Worker)

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        return {name: info.annotation for name, info in cls.model_fields.items()
                if isinstance(info.annotation, type) and issubclass(info.annotation, Section)}

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        toml_path = Path(os.environ.get("SIAGA_CONFIG", "siaga.toml"))
        flat_env = {k[len(ENV_PREFIX):].lower(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings,
                                                     FlatNames(settings_cls, lambda: flat_env, known_only=True)]
        if toml_path.is_file():
            toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
            sources.append(FlatNames(settings_cls, toml, known_only=False))
        return tuple(sources)

    @property
    def clustered(self) -> bool:
        """One of several workers (worker.id set)."""
        return bool(self.worker.id)

    @property
    def worker_name(self) -> str:
        """This worker's name in leases and logs. A lone server without an id is named after its
        host, so after a restart it takes its own leases back at once instead of waiting for them
        to lapse."""
        import socket
        return self.worker.id or socket.gethostname()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'siaga.db'}"


class FlatNames(PydanticBaseSettingsSource):
    """Values under their flat names (`mqtt_host`) put into their sections (`broker.host`).
    known_only: drop every other key (the environment holds much else); otherwise pass them on
    unchanged, so the model judges them (a TOML file's sections, or a typo it must refuse)."""

    def __init__(self, settings_cls: type[Settings], read, known_only: bool):
        super().__init__(settings_cls)
        self._read = read
        self._known_only = known_only
        self._where = {flat_name: (section, name) for section, model in settings_cls.sections().items()
                       for flat_name, name in model.flat_names().items()}

    def get_field_value(self, field, field_name):  # required by the base class; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        nested: dict[str, dict] = {}
        for key, value in self._read().items():
            where = self._where.get(key)
            if where is None:
                if not self._known_only:
                    out[key] = value
                continue
            section, name = where
            if isinstance(value, str) and value.startswith(("[", "{")):   # tuples and lists travel as JSON
                value = json.loads(value)
            nested.setdefault(section, {})[name] = value
        for section, values in nested.items():
            given = out.get(section)
            out[section] = {**values, **given} if isinstance(given, dict) else values
        return out
