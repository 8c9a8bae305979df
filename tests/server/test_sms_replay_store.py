"""The SMS gateway's replay windows in the database (fleet_server/storage/sms_replay.py), on SQLite
and PostgreSQL: every 64-bit mask survives the round trip through a signed BIGINT, a device's row
is replaced by its newer window, and a window that is not one is refused before it is written."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from fleet_server.storage.sms_replay import DatabaseReplayStore
from protocols.replay import ReplayWindow
from tests.server.conftest import T0

pytestmark = pytest.mark.postgres

FULL = (1 << 64) - 1


def test_given_no_window_for_a_device_then_load_is_none(db):
    assert DatabaseReplayStore(db).load("btn-bdg-0001") is None


@pytest.mark.parametrize("state", [(0, 0, 1), (3, 80, 5), (7, 200, FULL), (1, 63, 1 << 63),
                                   (2 ** 40, 2 ** 62, (1 << 63) | 1), (-1, -1, 0)])
def test_given_a_saved_window_when_loaded_by_another_store_then_it_is_the_same_window(db, state):
    DatabaseReplayStore(db).save("btn-bdg-0001", state)
    assert DatabaseReplayStore(db).load("btn-bdg-0001") == state


def test_given_a_device_window_when_it_advances_then_the_row_is_replaced_and_other_devices_keep_theirs(db, clock):
    store = DatabaseReplayStore(db, clock=clock)
    window = ReplayWindow()
    for seq in (5, 3, 9):
        window.accept(2, seq)
        store.save("btn-bdg-0001", window.state())
        clock.advance(1)
    store.save("btn-bdg-0002", (1, 1, 1))
    assert store.load("btn-bdg-0001") == (2, 9, 0b1010001)
    assert store.load("btn-bdg-0002") == (1, 1, 1)
    with db.read() as s:
        rows = s.execute(text("SELECT device_id, updated_at FROM sms_replay_windows ORDER BY device_id")).all()
    assert [tuple(r) for r in rows] == [("btn-bdg-0001", T0 + 2), ("btn-bdg-0002", T0 + 3)]


@pytest.mark.parametrize("mask", [-1, 1 << 64])
def test_given_a_mask_wider_than_the_window_then_save_refuses_it_and_keeps_the_stored_one(db, mask):
    store = DatabaseReplayStore(db)
    store.save("btn-bdg-0001", (1, 4, 1))
    with pytest.raises(ValueError, match="not a 64-bit window"):
        store.save("btn-bdg-0001", (1, 5, mask))
    assert store.load("btn-bdg-0001") == (1, 4, 1)
