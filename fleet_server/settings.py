"""One settings class for the whole server side: environment variables (SIAGA_*) and an optional
TOML file (SIAGA_CONFIG, default ./siaga.toml). Environment wins over the file."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIAGA_", extra="ignore")

    # Where things live
    data_dir: Path = Field(REPO_ROOT / "run", description="runtime state: database, broker files, logs")
    shared_data: Path = Field(REPO_ROOT.parent / "shared" / "data", description="third-party captures read by tests")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir")

    # MQTT
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = "fleet-server"
    mqtt_password: str = ""
    mqtt_client_id: str = "siaga-fleet-server"
    mqtt_keepalive_s: int = 30

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = 8112
    jwt_secret: str = Field("", description="HMAC key for access tokens; generated into data_dir when empty")
    token_ttl_s: int = 12 * 3600

    # Incident rules
    fold_radius_m: float = 150.0
    fold_window_s: int = 300
    escalate_after_s: int = 60
    response_promise_s: int = 300
    prank_flag_threshold: int = 3
    heartbeat_misses_offline: int = 2
    button_heartbeat_s: int = 300
    tracker_heartbeat_s: int = 60

    # Units and dispatch (fleet_server/units, fleet_server/dispatch; see docs/dispatch.md)
    unit_stale_after_s: float = Field(120.0, description="a unit with no fix for this long is stale: never recommended")
    unit_history_retention_s: float = 30 * 86400
    unit_feed_interval_s: float = Field(1.0, description="at most one position event per unit per interval on the feed")
    dispatch_ack_timeout_s: float = Field(60.0, description="no accept within this time: propose the next unit, alert")
    dispatch_onscene_radius_m: float = 100.0
    dispatch_near_radius_m: float = 500.0
    dispatch_auto_agencies: str = Field("", description="comma-separated agencies dispatched without a dispatcher")
    dispatch_button_feedback: bool = True

    # The center's SMS gateway modem (fleet_server/sms; see docs/gsm.md). Empty port: no gateway.
    sms_port: str = ""
    sms_baudrate: int = 115200
    sms_pin: str = ""
    sms_reply: bool = Field(True, description="answer each SOS and report with a confirmation SMS")
    sms_sweep_s: float = Field(30.0, description="re-read the modem's SMS store this often, in case a +CMTI was lost")

    # Telemetry
    influx_url: str = ""
    influx_token: str = "siaga"
    influx_org: str = "siaga"
    influx_bucket: str = "telemetry"

    log_json: bool = True
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        toml_path = Path(os.environ.get("SIAGA_CONFIG", "siaga.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'siaga.db'}"
