"""Tables of the fleet server. Times are Unix seconds (double precision) so SQLite and PostgreSQL
agree and percentiles are plain arithmetic; coordinates are integer microdegrees like the wire.
Units and their positions belong to the trackers issue: they come later in their own migration."""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Double, ForeignKey, Integer, String, Text,
                        UniqueConstraint, Index)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
    boot: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_seen: Mapped[float | None] = mapped_column(Double, nullable=True)
    status_changed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    prank_count: Mapped[int] = mapped_column(Integer, default=0)
    prank_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    broker_password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sms_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # hex
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
    escalated_at: Mapped[float | None] = mapped_column(Double, nullable=True)
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


class PrankEntry(Base):
    __tablename__ = "prank_ledger"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    site: Mapped[str] = mapped_column(String(120), default="")
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(16))                 # prank | false_alarm
    at: Mapped[float] = mapped_column(Double)
