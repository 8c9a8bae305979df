"""One journal file per device being provisioned (<data_dir>/provisioning/<device_id>.json): which
steps are done, so a crash or a pulled cable leaves a record that the next run resumes or that
rollback clears. Steps, in order: registered (with its credential hash, in one API call, so a device
is never registered without credentials), broker (Mosquitto reloaded), files (written and their
hashes checked on the device), verified (birth and heartbeat seen, server shows it online).

The journal never holds the secret: a resumed provisioning makes a fresh one."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

STEPS = ("registered", "broker", "files", "verified")
# in_progress: steps are running or were cut off; rolled_back: credentials revoked after a failure;
# rollback_failed: the revocation itself failed (run decommission); done: provisioned.
STATES = ("in_progress", "rolled_back", "rollback_failed", "done")


class Journal:
    def __init__(self, data_dir: Path, device_id: str):
        self.path = Path(data_dir) / "provisioning" / f"{device_id}.json"
        self.device_id = device_id
        self.record: dict = {"device": device_id, "state": "in_progress", "steps": {}, "params": {},
                             "error": None, "history": []}
        if self.path.is_file():
            try:
                self.record.update(json.loads(self.path.read_text()))
            except (OSError, ValueError):
                # A torn journal still says "something was started here": keep it as in progress.
                self.record["error"] = "journal was unreadable"

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def state(self) -> str:
        return self.record["state"]

    @property
    def unfinished(self) -> bool:
        return self.exists and self.state != "done"

    def done(self, step: str) -> bool:
        return step in self.record["steps"]

    def begin(self, params: dict) -> None:
        self.record["params"] = params
        self.record["state"] = "in_progress"
        self.record["steps"] = {}
        self.record["error"] = None
        self._event("started")

    def mark(self, step: str) -> None:
        if step not in STEPS:
            raise ValueError(f"unknown step {step}")
        self.record["steps"][step] = time.time()
        self._event(step)

    def finish(self, state: str, error: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        self.record["state"] = state
        self.record["error"] = error
        self._event(state)

    def _event(self, what: str) -> None:
        self.record["history"].append([round(time.time(), 3), what])
        self.record["history"] = self.record["history"][-50:]
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.record, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
