"""Where releases are kept. The domain asks a ReleaseStore; DiskReleaseStore keeps each bundle as
the directory bundle.py wrote, under <data_dir>/releases, with its withdrawal beside it (outside
the signed manifest: withdrawing changes whether a release is offered, never what it is).
A database-backed store can replace it behind the same interface once it has its migration."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from fleet_server.releases.bundle import FILES, MANIFEST, SIGNATURE
from fleet_server.i18n import N_, Message
from fleet_server.releases.manifest import ReleaseError
from protocols import release as wire

WITHDRAWN = "withdrawn.json"


def releases_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "releases"


class NotFound(ReleaseError):
    pass


class ReleaseStore(Protocol):
    def listing(self) -> list[dict]: ...

    def detail(self, version: str, public_key: bytes | None) -> dict: ...

    def withdraw(self, version: str, actor: str, reason: str, at: float) -> tuple[dict, bool]: ...


def summary(m: dict, withdrawn: dict | None) -> dict:
    return {"version": m["version"], "kind": m["kind"], "boards": m["boards"], "min_version": m["min_version"],
            "created": m["created"], "key": m["key"], "mpy": m["mpy"], "files": len(m["files"]),
            "bytes": sum(e["size"] for e in m["files"]), "withdrawn": withdrawn}


def verify_bundle(root: Path, public_key: bytes) -> str | None:
    """What a device would refuse in this bundle (signature, manifest, any file), or None. The
    checks are protocols/release.py's, the device's own."""
    m, why = wire.open_manifest(*wire.read_bundle(str(root)), public_key)
    if why:
        return why
    for e in m["files"]:
        f = root / FILES / e["path"]
        if not f.is_file():
            return "missing " + e["path"]
        with open(f, "rb") as stream:
            why = wire.file_problem(e, *wire.digest_stream(stream))
        if why:
            return why
    return None


class DiskReleaseStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, version: str) -> Path:
        # The version is checked before it becomes a path: nothing else reaches the filesystem.
        if wire.parse_version(version) is None:
            raise NotFound(Message(N_("{version} is not a release version (MAJOR.MINOR.PATCH)"), version=repr(version)))
        d = self.root / version
        if not (d / MANIFEST).is_file():
            raise NotFound(Message(N_("release {version} not found"), version=version))
        return d

    def _manifest(self, d: Path) -> dict:
        return json.loads((d / MANIFEST).read_bytes())

    def _withdrawn(self, d: Path) -> dict | None:
        w = d / WITHDRAWN
        return json.loads(w.read_text()) if w.is_file() else None

    def listing(self) -> list[dict]:
        out = []
        if self.root.is_dir():
            for d in self.root.iterdir():
                if wire.parse_version(d.name) is not None and (d / MANIFEST).is_file():
                    out.append(summary(self._manifest(d), self._withdrawn(d)))
        return sorted(out, key=lambda r: wire.parse_version(r["version"]), reverse=True)

    def detail(self, version: str, public_key: bytes | None) -> dict:
        d = self._dir(version)
        m = self._manifest(d)
        out = summary(m, self._withdrawn(d))
        out["manifest"] = m
        out["signature"] = (d / SIGNATURE).read_bytes().hex()
        out["check"] = verify_bundle(d, public_key) if public_key else "no release public key to check with"
        out["verified"] = out["check"] is None
        return out

    def withdraw(self, version: str, actor: str, reason: str, at: float) -> tuple[dict, bool]:
        """Marks the release withdrawn; (the withdrawal, whether it is new). Withdrawing again keeps
        the first record: who stopped it and why does not change."""
        d = self._dir(version)
        current = self._withdrawn(d)
        if current is not None:
            return current, False
        record = {"at": at, "by": actor, "reason": reason}
        tmp = d / (WITHDRAWN + ".tmp")
        tmp.write_text(json.dumps(record, sort_keys=True) + "\n")
        os.replace(tmp, d / WITHDRAWN)
        return record, True
