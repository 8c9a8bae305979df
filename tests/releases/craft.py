"""Releases a real center would never sign, made the way bundle.py makes good ones (same manifest
builder, same key, same mpy-cross), for tests that need a release that crashes at boot or a
one-file change: derive(bundle, version, {path: source}) compiles the replacement sources, updates
their manifest entries and signs the result as a new version beside the original."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from fleet_server.releases import bundle, keys
from protocols import release as wire


def compile_source(rel: str, source: str) -> tuple[str, bytes]:
    if rel in bundle.SOURCE_ONLY:
        return rel, source.encode()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / rel
        src.parent.mkdir(parents=True)
        src.write_text(source)
        out = Path(d) / "out.mpy"
        subprocess.run([bundle.mpy_cross(), "-o", str(out), rel], cwd=d, check=True, capture_output=True)
        return rel[:-3] + ".mpy", out.read_bytes()


def derive(original: Path, version: str, sources: dict[str, str], key_dir: Path) -> Path:
    """A new signed release `version` beside `original`, with the given source files replaced."""
    original = Path(original)
    m = json.loads((original / wire.MANIFEST).read_bytes())
    target = original.parent / version
    shutil.copytree(original, target)
    entries = {e["path"]: e for e in m["files"]}
    for rel, source in sources.items():
        path, data = compile_source(rel, source)
        e = entries[path]
        e["size"], e["sha256"] = len(data), hashlib.sha256(data).hexdigest()
        (target / wire.FILES / path).write_bytes(data)
    m["version"] = version
    body = wire.encode(m)
    (target / wire.MANIFEST).write_bytes(body)
    (target / wire.SIGNATURE).write_bytes(keys.load_private(key_dir).sign(wire.signed_message(body)))
    return target
