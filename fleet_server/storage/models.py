"""Tables of the fleet server. Times are Unix seconds (double precision) so SQLite and PostgreSQL
agree and percentiles are plain arithmetic; coordinates are integer microdegrees like the wire.
Every table is here and only Alembic creates them (migrations/versions); a test keeps the two equal.
Units, positions and dispatch are SQLAlchemy Core tables on the same metadata: their store writes
them in bulk with Core statements."""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Double, ForeignKey, Integer, String, Table, Text,
                        UniqueConstraint, Index)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from fleet_server.storage.sealed import SealedHex

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))                  # button | tracker | gateway
    site: Mapped[str] = mapped_column(String(120), default="")
    lat_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lon_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    category: Mapped[str] = mapped_column(String(16), default="unknown")
    agency: Mapped[str] = mapped_column(String(16), default="112")
    board: Mapped[str | None] = mapped_column(String(24), nullable=True)  # esp32_button ... (provisioning)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # online | offline | unknown
    battery_mv: Mapped[int | None] = mapped_column(Integer, nullable=True)
    battery_pct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rssi_dbm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    temp_dc: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tamper: Mapped[bool] = mapped_column(Boolean, default=False)
    stuck: Mapped[bool] = mapped_column(Boolean, default=False)
    firmware: Mapped[str | None] = mapped_column(String(24), nullable=True)
    uptime_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outbox: Mapped[int | None] = mapped_column(Integer, nullable=True)
    link_security: Mapped[str | None] = mapped_column(String(16), nullable=True)  # tls | tls_unverified | plain
    boot: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_seen: Mapped[float | None] = mapped_column(Double, nullable=True)
    status_changed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    prank_count: Mapped[int] = mapped_column(Integer, default=0)
    prank_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    broker_password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sms_key: Mapped[str | None] = mapped_column(SealedHex("sms_key"), nullable=True)  # hex, sealed at rest
    created_at: Mapped[float] = mapped_column(Double)


class Alarm(Base):
    __tablename__ = "alarms"
    # The dedupe key is the database's, so several server processes stay correct.
    __table_args__ = (UniqueConstraint("device_id", "boot", "seq", name="uq_alarms_device_boot_seq"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    boot: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    via: Mapped[str] = mapped_column(String(8))                    # mqtt | sms
    pressed_at: Mapped[float] = mapped_column(Double)
    received_at: Mapped[float] = mapped_column(Double)
    category: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    presses: Mapped[int] = mapped_column(Integer)
    lat_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lon_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loc_source: Mapped[str] = mapped_column(String(8))
    loc_acc_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loc_age_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prank_flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_state_pressed", "state", "last_pressed_at"),
                      Index("ix_incidents_received", "received_at"))
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(16))                  # emergency | report
    category: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    station_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    station_parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    press_count: Mapped[int] = mapped_column(Integer, default=0)
    alarm_count: Mapped[int] = mapped_column(Integer, default=0)
    origin_device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    site: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lat_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lon_udeg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loc_source: Mapped[str] = mapped_column(String(8), default="none")
    loc_acc_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loc_age_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prank_suspect: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    reporter: Mapped[str | None] = mapped_column(String(120), nullable=True)
    caller_number: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)  # in full
    channel: Mapped[str | None] = mapped_column(String(8), nullable=True)  # button | phone | sms | aml
    escalated_at: Mapped[float | None] = mapped_column(Double, nullable=True)   # the latest rung
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_pressed_at: Mapped[float] = mapped_column(Double)
    pressed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    received_at: Mapped[float] = mapped_column(Double)
    acknowledged_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    dispatched_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    enroute_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    onscene_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    closure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class IncidentAlarm(Base):
    __tablename__ = "incident_alarms"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), primary_key=True, unique=True)
    # Objects, so a batch can link alarms to incidents before either has its id (one flush).
    incident: Mapped[Incident] = relationship()
    alarm: Mapped[Alarm] = relationship()


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)


class AuditEntry(Base):
    """Append-only: the repository has no update or delete, and database triggers refuse both."""
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(64))                # who: a username, "device:<id>", "system"
    action: Mapped[str] = mapped_column(String(32))               # what
    entity: Mapped[str] = mapped_column(String(16))               # incident | device | user
    entity_id: Mapped[str] = mapped_column(String(64))
    from_value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Double)
    # Tokens carry the generation they were issued under: disabling the user or changing the
    # password moves it on, and every earlier token stops working.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The station a user of role "station" works at (a station area id): the forwards they take.
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The console's language for this user (en, id); NULL: the center's (settings.console.language).
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)


class PrankEntry(Base):
    __tablename__ = "prank_ledger"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    site: Mapped[str] = mapped_column(String(120), default="")
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(16))                 # prank | false_alarm
    at: Mapped[float] = mapped_column(Double)


class NumberPrank(Base):
    """The prank ledger per caller's number (phone, SMS, AML): as per device, closures as prank
    or false alarm count against the number."""
    __tablename__ = "number_pranks"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(16))                 # prank | false_alarm
    at: Mapped[float] = mapped_column(Double)


class Forward(Base):
    """An incident forwarded to a station (fleet_server/domain/forwarding.py): pending until the
    station accepts it, then handed down to a child station, returned or closed; escalated up the
    chain when nobody accepts it in time. `holders` is the station's roster when it arrived."""
    __tablename__ = "forwards"
    __table_args__ = (Index("ix_forwards_station_state", "station_id", "state"),
                      Index("ix_forwards_state_sent", "state", "sent_at"))
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    station_id: Mapped[str] = mapped_column(String(64))
    station_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agency: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))          # pending | accepted | handed_down | returned | escalated | closed
    parent_id: Mapped[int | None] = mapped_column(Id, nullable=True)   # the forward this one came from
    sent_at: Mapped[float] = mapped_column(Double)
    sent_by: Mapped[str] = mapped_column(String(64))
    holders: Mapped[str] = mapped_column(Text, default="")   # usernames, comma separated
    accepted_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    accepted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)   # done | no_action | the next station
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


# ---- units, their position history and dispatch's journal (Core tables) -------------------------

units_table = Table(
    "units", Base.metadata,
    Column("id", String(32), primary_key=True),
    Column("callsign", String(32), nullable=False),
    Column("agency", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("home_station", String(120), nullable=False, default=""),
    Column("home_lat", Integer, nullable=True),
    Column("home_lon", Integer, nullable=True),
    Column("capabilities", Text, nullable=False, default="[]"),
    Column("device_id", String(32), nullable=True, unique=True),
    Column("status", String(16), nullable=False, default="available"),
    Column("status_at", Double, nullable=True),
    Column("last_lat", Integer, nullable=True),
    Column("last_lon", Integer, nullable=True),
    Column("last_ts", Double, nullable=True),
    Column("last_acc", Integer, nullable=True),
)

positions_table = Table(
    "unit_positions", Base.metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("unit_id", String(32), nullable=False),
    Column("ts", Double, nullable=False),
    Column("received_at", Double, nullable=False),
    Column("lat", Integer, nullable=False),
    Column("lon", Integer, nullable=False),
    Column("acc", Integer, nullable=True),
    Column("spd", Integer, nullable=True),
    Column("hdg", Integer, nullable=True),
    Index("ix_unit_positions_unit_ts", "unit_id", "ts"),
    Index("ix_unit_positions_ts", "ts"),
)

# Dispatch's own state (the domain's Journal port): which incidents are open for
# dispatch and every order with its history, so a restarted server knows who is on the way.
dispatch_incidents_table = Table(
    "dispatch_incidents", Base.metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("lat", Integer, nullable=False),
    Column("lon", Integer, nullable=False),
    Column("category", String(16), nullable=False),
    Column("buttons", Text, nullable=False, default="[]"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("feedback_sent", Text, nullable=False, default="[]"),
    Column("open", Boolean, nullable=False, default=True),
)

assignments_table = Table(
    "dispatch_assignments", Base.metadata,
    Column("id", String(32), primary_key=True),
    Column("incident", BigInteger, nullable=False, index=True),
    Column("unit", String(32), nullable=False),
    Column("device", String(32), nullable=False),
    Column("by", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("ordered_at", Double, nullable=False),
    Column("lat", Integer, nullable=False),
    Column("lon", Integer, nullable=False),
    Column("category", String(16), nullable=False),
    Column("note", String(120), nullable=False, default=""),
    Column("answered_at", Double, nullable=True),
    Column("onscene_at", Double, nullable=True),
    Column("why", String(80), nullable=True),
    Column("near_sent", Boolean, nullable=False, default=False),
    Column("history", Text, nullable=False, default="[]"),
)


class SmsReplayWindow(Base):
    """The SMS gateway's replay window per device (protocols.replay.ReplayWindow's state): the
    newest (boot, seq) taken and the 64-bit mask of the seqs just below it. The mask is kept as
    the signed 64-bit number with the same bits (BIGINT is signed on both engines)."""
    __tablename__ = "sms_replay_windows"
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    boot: Mapped[int] = mapped_column(BigInteger)
    top: Mapped[int] = mapped_column(BigInteger)
    mask: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Double)


class OtaCampaign(Base):
    """A rollout of one firmware release (fleet_server/releases/campaigns.py): the devices it
    targets go in waves (cumulative percentages in `steps`, the first one the canary); a wave
    widens only while the health gate holds, and a failed gate halts the campaign."""
    __tablename__ = "ota_campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)                 # JSON {"site", "agency", "device"...}
    steps: Mapped[str] = mapped_column(String(80))            # JSON [5, 25, 100]
    trial_s: Mapped[int] = mapped_column(Integer)
    gate_s: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))            # running | halted | completed
    wave: Mapped[int] = mapped_column(Integer, default=0)
    wave_started: Mapped[float] = mapped_column(Double)
    halted_why: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class OtaCampaignDevice(Base):
    """One device's progress in a campaign: the states its reports name (protocols/ota.py) from
    waiting (not offered yet) to confirmed, rolled_back or refused."""
    __tablename__ = "ota_campaign_devices"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ota_campaigns.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    why: Mapped[str | None] = mapped_column(String(120), nullable=True)
    fw_from: Mapped[str | None] = mapped_column(String(24), nullable=True)
    updated_at: Mapped[float] = mapped_column(Double)


class LeaseRow(Base):
    """The lease of one singleton duty among several workers (fleet_server/cluster/leases.py):
    who holds it, its fencing token (one more at every new holder) and when it lapses, all written
    with the database's clock."""
    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), default="", server_default="")
    token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expires_at: Mapped[float] = mapped_column(Double, default=0, server_default="0")
    acquired_at: Mapped[float] = mapped_column(Double, default=0, server_default="0")


class LoginName(Base):
    """Failed logins in a row per username and its lock (fleet_server/api/throttle.py), shared by
    every worker so a second worker does not double the attempts."""
    __tablename__ = "login_names"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[float] = mapped_column(Double, default=0, server_default="0")


class LoginAddressFailure(Base):
    """One failed login from one client address, for the per-address throttle window."""
    __tablename__ = "login_address_failures"
    __table_args__ = (Index("ix_login_address_failures_address_at", "address", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Double)
