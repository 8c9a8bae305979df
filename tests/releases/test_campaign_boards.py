"""Campaigns by board, on a real SQLite registry and a real signed bundle: a campaign may target one
board; the server never offers a release to a device whose registered board the release carries no
files for (left out at creation, or skipped at its wave if it was re-registered since), while a
device whose board is not known yet is offered and decides itself."""
from __future__ import annotations

import json
import time

import pytest

from fleet_server.releases import bundle, keys
from fleet_server.releases.campaign_store import CampaignStore
from fleet_server.releases.campaigns import CampaignEngine, CampaignError
from fleet_server.releases.store import DiskReleaseStore
from fleet_server.storage import audit as audit_repo
from fleet_server.storage.db import Database
from fleet_server.storage.models import Device

VERSION = "1.4.0"
BOARDS = {"btn-esp-1": "esp32_button", "btn-esp-2": "esp32_button", "btn-pico-1": "picow_button",
          "btn-old-1": None, "btn-sim-1": "sim"}


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """A button release for the ESP32 and the unix binary only (no Pico W files)."""
    root = tmp_path_factory.mktemp("releases")
    key_dir = root / "keys"
    keys.create(key_dir)
    bundle.build(VERSION, "button", ["esp32_button", "sim"], "1.0.0", key_dir, root / "bundles",
                 created=1_796_000_000)
    return root / "bundles"


@pytest.fixture
def engine(tmp_path, releases):
    db = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    with db.session() as s:
        for dev, board in BOARDS.items():
            s.add(Device(id=dev, kind="button", site="Alun-alun", agency="112", board=board, active=True,
                         status="online", firmware="button-1.0.0", created_at=time.time()))
    offered: list[str] = []
    e = CampaignEngine(CampaignStore(db), DiskReleaseStore(releases), lambda dev, ver, trial: offered.append(dev),
                       lambda alert: None)
    e.db, e.offered = db, offered
    try:
        yield e
    finally:
        db.dispose()


def test_given_devices_of_several_boards_when_a_campaign_starts_then_only_boards_the_release_carries_are_offered(
        engine):
    c = engine.create("tech-ani", VERSION, steps=[100])
    assert sorted(engine.offered) == ["btn-esp-1", "btn-esp-2", "btn-old-1", "btn-sim-1"]
    assert c["not_offered"] == {"wrong_board": ["btn-pico-1"]}
    assert "btn-pico-1" not in {d["device"] for d in c["devices"]}
    # The audit of the campaign's creation says who was left out and why.
    with engine.db.read() as s:
        rows = [a for a in audit_repo.listing(s, entity="campaign", entity_id=str(c["id"]))
                if a.action == "create"]
    assert rows and json.loads(rows[0].detail)["not_offered"] == {"wrong_board": ["btn-pico-1"]}


def test_given_a_board_target_when_a_campaign_starts_then_only_that_boards_devices_are_in_it(engine):
    c = engine.create("tech-ani", VERSION, steps=[100], board="esp32_button")
    assert sorted(engine.offered) == ["btn-esp-1", "btn-esp-2"]
    assert c["target"] == {"board": "esp32_button"}
    with pytest.raises(CampaignError, match="no files for board picow_button"):
        engine.create("tech-ani", VERSION, steps=[100], board="picow_button")


def test_given_a_device_reregistered_on_another_board_when_its_wave_comes_then_it_is_skipped_not_offered(engine):
    c = engine.create("tech-ani", VERSION, steps=[25, 100], board="esp32_button")
    first = [d["device"] for d in c["devices"] if d["wave"] == 0]
    later = [d["device"] for d in c["devices"] if d["wave"] == 1]
    assert len(first) == 1 and len(later) == 1 and engine.offered == first
    with engine.db.session() as s:
        s.get(Device, later[0]).board = "picow_button"      # moved to a Pico W since
    engine.on_report(first[0], {"ver": VERSION, "state": "confirmed"})
    c = engine.store.get(c["id"])
    assert c["wave"] == 1 and engine.offered == first, c
    skipped = [d for d in c["devices"] if d["device"] == later[0]][0]
    assert skipped["state"] == "skipped" and skipped["why"] == "wrong_board picow_button (server)"
    engine.tick()
    assert engine.store.get(c["id"])["state"] == "completed"
