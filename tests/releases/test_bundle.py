"""A release bundle built from the repository: every file a board runs (provisioning's own list)
compiled with mpy-cross except the device's main.py, a signed manifest that lists exactly what is
in the bundle, versions never rebuilt, and the compiled firmware imports under MicroPython."""
import json

import pytest

from fleet_server.provisioning.firmware_files import code_files
from fleet_server.releases import bundle, keys
from fleet_server.releases.manifest import ReleaseError
from fleet_server.releases.store import verify_bundle
from protocols import release as wire
from tests.support.mpy import run_code


def _manifest(root):
    return json.loads((root / bundle.MANIFEST).read_bytes())


def test_given_a_button_release_then_each_board_gets_exactly_the_files_provisioning_would_write(button_release):
    m = _manifest(button_release)
    assert m["version"] == "1.2.0" and m["min_version"] == "1.0.0" and m["kind"] == "button"
    assert m["boards"] == ["esp32_button", "picow_button", "sim"]
    for board in m["boards"]:
        want = {p if p == "main.py" else p[:-3] + ".mpy" for p in code_files("button", board)}
        assert {e["path"] for e in wire.files_for(m, board)} == want, board
    paths = {e["path"] for e in m["files"]}
    assert "firmware/ports/esp32.mpy" in paths and "firmware/app/tracker.mpy" not in paths
    on_disk = {p.relative_to(button_release / bundle.FILES).as_posix()
               for p in (button_release / bundle.FILES).rglob("*") if p.is_file()}
    assert on_disk == paths


def test_given_the_bundle_then_modules_are_bytecode_and_main_py_stays_source(button_release):
    files = button_release / bundle.FILES
    assert (files / "main.py").read_text() == "from firmware.main import main\nmain()\n"
    for mpy in files.rglob("*.mpy"):
        head = mpy.read_bytes()[:2]
        assert head == b"M" + bytes([_manifest(button_release)["mpy"]]), mpy
    assert [p.relative_to(files).as_posix() for p in files.rglob("*.py")] == ["main.py"]
    assert b"/tmp" not in (files / "firmware" / "main.mpy").read_bytes()   # no build-machine paths


def test_given_the_bundle_then_it_verifies_with_the_public_key_and_names_it(button_release, key_dir):
    pub = keys.load_public(key_dir)
    assert verify_bundle(button_release, pub) is None
    assert _manifest(button_release)["key"] == wire.key_id(pub)


def test_given_an_existing_version_then_it_is_never_rebuilt(button_release, key_dir, releases):
    before = (button_release / bundle.MANIFEST).read_bytes()
    with pytest.raises(ReleaseError, match="release 1.2.0 exists"):
        bundle.build("1.2.0", "button", None, "1.0.0", key_dir, releases)
    assert (button_release / bundle.MANIFEST).read_bytes() == before


def test_given_an_unknown_board_or_kind_then_the_reason_says_so(key_dir, releases):
    with pytest.raises(ReleaseError, match="unknown board 'esp8266'"):
        bundle.build("9.0.0", "button", ["esp32_button", "esp8266"], "1.0.0", key_dir, releases)
    with pytest.raises(ReleaseError, match="board esp32_tracker carries a tracker, not a button"):
        bundle.build("9.0.1", "button", ["esp32_tracker"], "1.0.0", key_dir, releases)
    with pytest.raises(ReleaseError, match="no firmware for kind 'siren'"):
        bundle.build("9.0.2", "siren", ["sim"], "1.0.0", key_dir, releases)
    assert not [p for p in releases.iterdir() if p.name.startswith(("9.", ".9."))]


def test_given_a_tracker_release_then_the_default_targets_are_the_tracker_boards(key_dir, releases):
    root = bundle.build("2.0.0", "tracker", None, "0.0.0", key_dir, releases)
    m = _manifest(root)
    assert m["boards"] == ["esp32_tracker"]
    assert "firmware/app/tracker.mpy" in {e["path"] for e in m["files"]}


def test_given_the_sim_board_files_then_the_compiled_firmware_imports_under_micropython(button_release):
    code = ("import sys\nsys.path.insert(0, %r)\n"
            "import firmware.main, firmware.app.panic_button, firmware.ports.sim, protocols.codec_json\n"
            "print(firmware.app.panic_button.__file__)\n") % str(button_release / bundle.FILES)
    p = run_code(code)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert p.stdout.decode().strip().endswith("firmware/app/panic_button.mpy")
