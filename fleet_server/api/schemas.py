"""Request bodies, split by use (Create / Update), validated at the edge."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from fleet_server.api.security import ROLES
from fleet_server.domain.lifecycle import STATES
from protocols.messages import CATEGORIES, KINDS

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
DEVICE_ID = r"^[A-Za-z0-9_-]{1,32}$"
BOARD = r"^[a-z0-9_]{1,24}$"        # a board name as fleet_server/provisioning/firmware_files.BOARDS spells it


class TransitionIn(BaseModel):
    to_state: Literal[STATES]  # type: ignore[valid-type]
    reason: str | None = Field(None, max_length=500)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ReportIn(BaseModel):
    category: Category
    summary: str = Field(min_length=1, max_length=2000)
    reporter: str | None = Field(None, max_length=120)
    caller_number: str | None = Field(None, max_length=24, description="in full; shown masked")
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
    board: str | None = Field(None, pattern=BOARD)   # what the device is built on (provisioning's --board)
    active: bool = True
    broker_password_hash: str | None = Field(None, max_length=200)
    sms_key: str | None = Field(None, pattern=r"^[0-9a-fA-F]{16,128}$")


class DeviceUpdate(BaseModel):
    site: str | None = Field(None, max_length=120)
    lat_udeg: int | None = Field(None, ge=-90_000_000, le=90_000_000)
    lon_udeg: int | None = Field(None, ge=-180_000_000, le=180_000_000)
    category: Category | None = None
    agency: str | None = Field(None, max_length=16)
    board: str | None = Field(None, pattern=BOARD)
    active: bool | None = None
    prank_flagged: bool | None = None
    broker_password_hash: str | None = Field(None, max_length=200)
    sms_key: str | None = Field(None, pattern=r"^[0-9a-fA-F]{16,128}$")


LANGUAGES = ("en", "id")   # the console's catalogues: English, Bahasa Indonesia (docs/i18n.md)


class UserCreate(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    password: str = Field(min_length=8, max_length=200)
    role: Literal[ROLES]  # type: ignore[valid-type]
    station_id: str | None = Field(None, max_length=64, description="the station a user of role station works at "
                                                                    "(a station area id); required for that role")
    language: Literal[LANGUAGES] | None = None  # type: ignore[valid-type]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


class UserUpdate(BaseModel):
    """An admin's change to a user: disable (every token stops working), re-enable, new role,
    or a new password (also ends the user's tokens)."""
    active: bool | None = None
    role: Literal[ROLES] | None = None  # type: ignore[valid-type]
    password: str | None = Field(None, min_length=8, max_length=200)
    station_id: str | None = Field(None, max_length=64, description="the station the user works at")
    # "" goes back to the center's language.
    language: Literal[LANGUAGES + ("",)] | None = None  # type: ignore[valid-type]


class OwnSettings(BaseModel):
    """What a signed-in user sets for themself: the console's language ("" for the center's)."""
    language: Literal[LANGUAGES + ("",)]  # type: ignore[valid-type]


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=200)
    new_password: str = Field(min_length=8, max_length=200)
