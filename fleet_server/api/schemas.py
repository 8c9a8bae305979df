"""Request bodies, split by use (Create / Update), validated at the edge."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from fleet_server.api.security import ROLES
from fleet_server.domain.lifecycle import STATES
from protocols.messages import CATEGORIES, KINDS

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
DEVICE_ID = r"^[A-Za-z0-9_-]{1,32}$"


class TransitionIn(BaseModel):
    to_state: Literal[STATES]  # type: ignore[valid-type]
    reason: str | None = Field(None, max_length=500)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ReportIn(BaseModel):
    category: Category
    summary: str = Field(min_length=1, max_length=2000)
    reporter: str | None = Field(None, max_length=120)
    lat_udeg: int | None = Field(None, ge=-90_000_000, le=90_000_000)
    lon_udeg: int | None = Field(None, ge=-180_000_000, le=180_000_000)
    device_id: str | None = Field(None, pattern=DEVICE_ID)


class DeviceCreate(BaseModel):
    id: str = Field(pattern=DEVICE_ID)
    kind: Literal[KINDS]  # type: ignore[valid-type]
    site: str = Field("", max_length=120)
    lat_udeg: int | None = Field(None, ge=-90_000_000, le=90_000_000)
    lon_udeg: int | None = Field(None, ge=-180_000_000, le=180_000_000)
    category: Category = "unknown"
    agency: str | None = Field(None, max_length=16)
    active: bool = True
    broker_password_hash: str | None = Field(None, max_length=200)
    sms_key: str | None = Field(None, pattern=r"^[0-9a-fA-F]{16,128}$")


class DeviceUpdate(BaseModel):
    site: str | None = Field(None, max_length=120)
    lat_udeg: int | None = Field(None, ge=-90_000_000, le=90_000_000)
    lon_udeg: int | None = Field(None, ge=-180_000_000, le=180_000_000)
    category: Category | None = None
    agency: str | None = Field(None, max_length=16)
    active: bool | None = None
    prank_flagged: bool | None = None
    broker_password_hash: str | None = Field(None, max_length=200)
    sms_key: str | None = Field(None, pattern=r"^[0-9a-fA-F]{16,128}$")


class UserCreate(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    password: str = Field(min_length=8, max_length=200)
    role: Literal[ROLES]  # type: ignore[valid-type]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
