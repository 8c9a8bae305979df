"""Vendor the console's browser libraries from the npm registry at build time.

    python -m fleet_server.console.vendor [--force]

The console must work with no internet at run time, so Leaflet is fetched once here (with the
ordinary npm client, `npm pack`), checked against the version we pin, and only the files the browser
needs are copied into static/vendor/ (git-ignored). Running it again is a no-op when the files are
already there."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger("siaga.console.vendor")

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
LEAFLET_VERSION = "1.9.4"
# package/<path in the tarball> -> path under vendor/leaflet/
LEAFLET_FILES = ("dist/leaflet.js", "dist/leaflet.css", "dist/images/layers.png",
                 "dist/images/layers-2x.png", "dist/images/marker-icon.png",
                 "dist/images/marker-icon-2x.png", "dist/images/marker-shadow.png")


def leaflet_dir(vendor_dir: Path = VENDOR_DIR) -> Path:
    return vendor_dir / "leaflet"


def is_vendored(vendor_dir: Path = VENDOR_DIR) -> bool:
    stamp = leaflet_dir(vendor_dir) / "VERSION"
    return stamp.is_file() and stamp.read_text().strip() == LEAFLET_VERSION and all(
        (leaflet_dir(vendor_dir) / _target(f)).is_file() for f in LEAFLET_FILES)


def _target(path_in_package: str) -> str:
    return path_in_package.removeprefix("dist/")


def vendor_leaflet(vendor_dir: Path = VENDOR_DIR, force: bool = False) -> Path:
    """Fetch leaflet@LEAFLET_VERSION with `npm pack` and copy its browser files. Returns the dir."""
    out = leaflet_dir(vendor_dir)
    if is_vendored(vendor_dir) and not force:
        log.info("leaflet %s already vendored in %s", LEAFLET_VERSION, out)
        return out
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: install Debian's `npm` package to vendor Leaflet")
    with tempfile.TemporaryDirectory(prefix="siaga-vendor-") as tmp:
        # --ignore-scripts: we only want the tarball, never to run a package's install hooks.
        done = subprocess.run([npm, "pack", f"leaflet@{LEAFLET_VERSION}", "--ignore-scripts", "--json"],
                              cwd=tmp, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"npm pack leaflet@{LEAFLET_VERSION} failed: {done.stderr.strip()[-500:]}")
        tarballs = list(Path(tmp).glob("leaflet-*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"npm pack left {len(tarballs)} tarballs, expected one")
        with tarfile.open(tarballs[0]) as tar:
            manifest = json.load(tar.extractfile("package/package.json"))
            if manifest.get("version") != LEAFLET_VERSION:
                raise RuntimeError(f"npm gave leaflet {manifest.get('version')}, pinned {LEAFLET_VERSION}")
            staging = Path(tmp) / "staging"
            for name in LEAFLET_FILES:
                member = tar.getmember("package/" + name)
                if not member.isfile():
                    raise RuntimeError(f"{name} in the leaflet tarball is not a regular file")
                dest = staging / _target(name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tar.extractfile(member).read())
            (staging / "LICENSE").write_bytes(tar.extractfile("package/LICENSE").read())
            (staging / "VERSION").write_text(LEAFLET_VERSION + "\n")
        # Replace the whole directory at once so a half-copied vendor dir never serves.
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, out)
    log.info("vendored leaflet %s into %s", LEAFLET_VERSION, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch again even if already vendored")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = vendor_leaflet(force=args.force)
    except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError, tarfile.TarError) as e:
        log.error("vendoring failed: %s", e)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
