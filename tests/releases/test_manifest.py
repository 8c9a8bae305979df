"""The manifest, pure: one entry per file with its size, SHA-256 and the boards that install it,
sorted by path; canonical bytes (the signature covers exactly these); versions that only go up."""
import hashlib
import json

import pytest

from fleet_server.releases import manifest
from fleet_server.releases.manifest import ReleaseError

FILES = {
    "esp32_button": {"main.py": b"main", "firmware/a.mpy": b"A", "firmware/ports/esp32.mpy": b"E"},
    "picow_button": {"main.py": b"main", "firmware/a.mpy": b"A", "firmware/ports/rp2.mpy": b"R"},
}


def _build(**kw):
    args = dict(version="1.2.0", kind="button", min_version="1.0.0", mpy=6, created=1_796_000_000,
                key_id="00112233aabbccdd", board_files=FILES)
    args.update(kw)
    return manifest.build(**args)


def test_given_two_boards_then_each_file_is_listed_once_with_the_boards_that_install_it():
    m = _build()
    assert m["boards"] == ["esp32_button", "picow_button"]
    assert [e["path"] for e in m["files"]] == sorted({p for f in FILES.values() for p in f})
    by_path = {e["path"]: e for e in m["files"]}
    assert by_path["firmware/a.mpy"]["boards"] == ["esp32_button", "picow_button"]
    assert by_path["firmware/ports/rp2.mpy"]["boards"] == ["picow_button"]
    assert by_path["main.py"]["size"] == 4
    assert by_path["main.py"]["sha256"] == hashlib.sha256(b"main").hexdigest()


def test_the_encoding_is_canonical_json_with_sorted_keys_and_no_spaces():
    m = _build()
    body = manifest.encode(m)
    assert body == json.dumps(m, sort_keys=True, separators=(",", ":")).encode()
    assert manifest.encode(json.loads(body)) == body


def test_given_one_path_with_different_content_on_two_boards_then_the_build_refuses():
    files = {"esp32_button": {"x.mpy": b"1"}, "picow_button": {"x.mpy": b"2"}}
    with pytest.raises(ReleaseError, match="x.mpy differs between boards"):
        _build(board_files=files)


@pytest.mark.parametrize("version,min_version,why", [
    ("1.2", "1.0.0", "version '1.2' is not MAJOR.MINOR.PATCH"),
    ("1.2.0", "v1.0.0", "minimum version 'v1.0.0' is not"),
    ("1.02.0", "1.0.0", "version '1.02.0' is not"),
    ("1.2.0", "1.2.0", "minimum version 1.2.0 must be below"),
    ("1.2.0", "1.10.0", "minimum version 1.10.0 must be below"),
])
def test_given_a_bad_version_pair_then_the_reason_says_which(version, min_version, why):
    with pytest.raises(ReleaseError, match=why):
        _build(version=version, min_version=min_version)


def test_given_no_board_then_the_build_refuses():
    with pytest.raises(ReleaseError, match="at least one target board"):
        _build(board_files={})
