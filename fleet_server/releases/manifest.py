"""A release's manifest, built from the files each target board runs. Pure: no files, no clock,
no key. The encoding and the field names are protocols/release.py's, the ones a device checks."""
from __future__ import annotations

import hashlib

from fleet_server.i18n import N_, Message
from protocols import release as wire


class ReleaseError(Exception):
    """A release that cannot be built, stored or found, with the reason: a Message (English in
    str(e) and the API's refusal; the command shows it in the reader's language)."""


def check_versions(version: str, min_version: str) -> None:
    for wrong, v in ((N_("version {version} is not MAJOR.MINOR.PATCH (e.g. 1.4.0)"), version),
                     (N_("minimum version {version} is not MAJOR.MINOR.PATCH (e.g. 1.4.0)"), min_version)):
        if wire.parse_version(v) is None:
            raise ReleaseError(Message(wrong, version=repr(v)))
    if wire.parse_version(min_version) >= wire.parse_version(version):
        raise ReleaseError(Message(N_("minimum version {min_version} must be below the release's {version}"),
                                   min_version=min_version, version=version))


def build(version: str, kind: str, min_version: str, mpy: int, created: int, key_id: str,
          board_files: dict[str, dict[str, bytes]]) -> dict:
    """board_files: board -> {path on the device: content}. A path two boards share must have the
    same content on both; each entry names the boards that install it."""
    check_versions(version, min_version)
    if not board_files:
        raise ReleaseError(Message(N_("a release needs at least one target board")))
    content: dict[str, bytes] = {}
    boards_of: dict[str, list[str]] = {}
    for board in sorted(board_files):
        for path, data in board_files[board].items():
            if path in content and content[path] != data:
                raise ReleaseError(Message(N_("{path} differs between boards"), path=path))
            content[path] = data
            boards_of.setdefault(path, []).append(board)
    files = [{"path": p, "size": len(content[p]), "sha256": hashlib.sha256(content[p]).hexdigest(),
              "boards": boards_of[p]} for p in sorted(content)]
    return {"format": wire.FORMAT, "version": version, "kind": kind, "boards": sorted(board_files),
            "min_version": min_version, "mpy": mpy, "created": created, "key": key_id, "files": files}


def encode(manifest: dict) -> bytes:
    return wire.encode(manifest)
