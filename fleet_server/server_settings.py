"""Fleet-server settings beyond the shared Settings class (same SIAGA_ environment prefix and
TOML file). Kept apart so the server core can tune itself without editing the shared class."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet_server.settings import REPO_ROOT


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIAGA_", extra="ignore")

    jurisdiction_file: Path | None = Field(REPO_ROOT / "fleet_server" / "data" / "bandung",
                                           description="station areas: a GeoJSON file or a directory of them (default: "
                                                       "the Bandung sample); empty: the command center takes every incident")
    supervise_every_s: float = Field(5.0, description="how often heartbeats, escalations and last-seen are checked")
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    command_ttl_s: int = Field(600, description="a feedback command older than this is stale on the device")
    mqtt_clean_session: bool = Field(False, description="persistent session: the broker keeps alarms while the server is down")
    ingest_batch: int = Field(200, description="most alarms committed in one transaction under load")
    # Fault injection for the crash tests only: wait this long between commit and ack, so a test
    # can SIGKILL the server in exactly that gap. Always 0 in production.
    fault_delay_ack_s: float = 0.0
    stats_utc_offset_h: int = Field(7, description="statistics count local days (WIB = UTC+7)")
    run_ingest: bool = Field(True, description="connect to the broker; off for an API-only process")
    run_units: bool = Field(True, description="units, tracking and dispatch (fleet_server/units) in this process")
    admin_bootstrap: str = Field("", description="'user:password' creates that admin at start when no user exists")


__all__ = ["ServerSettings", "REPO_ROOT"]
