"""`siaga firmware keys | release | verify` as a technician at the center runs them: settings from
SIAGA_DATA_DIR, a key made private, a bundle built where the API lists it, a tampered copy refused
with its reason, and no secret on the terminal."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

from fleet_server.releases import bundle
from tests.support.paths import REPO


def siaga(data_dir, *args):
    env = dict(os.environ, SIAGA_DATA_DIR=str(data_dir), SIAGA_CONFIG=str(data_dir / "none.toml"))
    return subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", "firmware", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_given_a_center_then_keys_release_and_verify_work_and_a_tampered_copy_is_refused(tmp_path):
    keys_run = siaga(tmp_path, "keys")
    assert keys_run.returncode == 0, keys_run.stderr
    key_dir = tmp_path / "release-keys"
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((key_dir / "release.key").stat().st_mode) == 0o600
    pub = (key_dir / "release.pub").read_text().strip()
    assert f"public key (devices trust this): {pub}" in keys_run.stdout
    assert "PRIVATE" not in keys_run.stdout + keys_run.stderr
    assert siaga(tmp_path, "keys").returncode == 1            # never replaced

    built = siaga(tmp_path, "release", "--version", "1.3.0", "--board", "sim", "--min-version", "1.0.0")
    assert built.returncode == 0, built.stdout + built.stderr
    root = tmp_path / "releases" / "1.3.0"
    assert (root / bundle.MANIFEST).is_file() and (root / bundle.SIGNATURE).stat().st_size == 64
    ok = siaga(tmp_path, "verify", str(root))
    assert ok.returncode == 0 and "verifies" in ok.stdout

    again = siaga(tmp_path, "release", "--version", "1.3.0", "--board", "sim")
    assert again.returncode == 1 and "release 1.3.0 exists" in again.stdout

    body = bytearray((root / bundle.MANIFEST).read_bytes())
    body[body.index(b'"1.3.0"') + 1:body.index(b'"1.3.0"') + 2] = b"9"    # 1.3.0 -> 9.3.0
    (root / bundle.MANIFEST).write_bytes(bytes(body))
    bad = siaga(tmp_path, "verify", str(root))
    assert bad.returncode == 1
    assert ("refused: the manifest's signature does not verify with this public key "
            "(bad_signature signature_mismatch)") in " ".join(bad.stdout.split())   # rich wraps at 80


def test_given_no_key_then_release_says_how_to_make_one(tmp_path):
    r = siaga(tmp_path, "release", "--version", "1.0.0", "--board", "sim")
    assert r.returncode == 1 and "siaga firmware keys" in r.stdout
    assert not (tmp_path / "releases" / "1.0.0").exists()
