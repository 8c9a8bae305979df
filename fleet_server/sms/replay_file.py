"""The replay-window file of earlier servers (`data_dir/sms_replay.json`: {device: [boot, top,
mask]}), imported once into the gateway's ReplayStore at start and then retired by renaming it
to `sms_replay.json.imported`, so that replays stay rejected across the move to the database.

Importing merges with what the store holds (every (boot, seq) either window saw stays seen, by
the window's own rules in protocols.replay): a start that died between importing and renaming
imports the same file again harmlessly. A file that cannot be read is left where it is, with an
error logged at every start, and nothing is imported from it; an entry that is not a window is
skipped with its reason, and the others are imported."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from fleet_server.logs import event
from fleet_server.sms.gateway import ReplayStore
from protocols.replay import WINDOW, ReplayWindow

log = logging.getLogger("siaga.sms.replay_file")

RETIRED_SUFFIX = ".imported"
DEVICE_ID_MAX = 32


def import_replay_file(path: Path, store: ReplayStore) -> dict | None:
    """Import `path` into `store` and rename it. None when there is no file (or it is unreadable);
    else {"imported": n, "skipped": n, "retired": new path}."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        windows = json.loads(path.read_text())
        if not isinstance(windows, dict):
            raise ValueError("not a JSON object of device windows but %s" % type(windows).__name__)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        event(log, logging.ERROR, "SMS replay-window file unreadable: left in place, nothing imported",
              path=str(path), reason=str(e)[:160])
        return None
    imported = skipped = 0
    for dev, raw in windows.items():
        state = _window_state(dev, raw)
        if isinstance(state, str):
            skipped += 1
            event(log, logging.WARNING, "SMS replay window skipped", dev=str(dev)[:DEVICE_ID_MAX], reason=state)
            continue
        store.save(dev, merge(store.load(dev), state))
        imported += 1
    retired = path.with_name(path.name + RETIRED_SUFFIX)
    path.replace(retired)
    event(log, logging.INFO, "SMS replay windows imported into the database; file retired",
          imported=imported, skipped=skipped, retired=str(retired))
    return {"imported": imported, "skipped": skipped, "retired": retired}


def merge(current: tuple[int, int, int] | None, other: tuple[int, int, int]) -> tuple[int, int, int]:
    """A window that has seen everything either window saw (within the window's width)."""
    if current is None:
        return tuple(other)
    window = ReplayWindow(*current)
    boot, top, mask = other
    for behind in range(WINDOW - 1, -1, -1):  # oldest first, as they would have arrived
        if mask >> behind & 1:
            window.accept(boot, top - behind)
    return window.state()


def _window_state(dev, raw) -> tuple[int, int, int] | str:
    """The (boot, top, mask) in `raw`, or why it is not one."""
    if not isinstance(dev, str) or not dev or len(dev) > DEVICE_ID_MAX:
        return "device id must be 1-%d characters" % DEVICE_ID_MAX
    if not isinstance(raw, list) or len(raw) != 3 or not all(type(v) is int for v in raw):
        return "window must be [boot, top, mask] integers, got %s" % json.dumps(raw)[:60]
    boot, top, mask = raw
    if not (-1 <= boot < 1 << 63 and -1 <= top < 1 << 63 and 0 <= mask < 1 << WINDOW):
        return "window [%d, %d, %d] out of range" % (boot, top, mask)
    return boot, top, mask
