"""Specification of what is generated from the pin maps: the firmware board config, the wiring
diagrams and the BOMs are committed, equal to what the generators produce now, and say what the pin
map says; the firmware's config imports and reads the same under the real MicroPython binary."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hardware.schematics import BOARDS, board_file, bom, boardgen, render
from hardware.schematics.boardmap import BoardFormatError, load_board
from hardware.schematics.golden import stale
from tests.support.hardware_boards import board_data, move, parsed
from tests.support.mpy import run_code
from tests.support.paths import REPO


@pytest.mark.parametrize("generator", [boardgen, render, bom], ids=["firmware-boards", "wiring-svg", "bom-csv"])
def test_given_the_pin_maps_when_regenerated_then_every_committed_file_is_unchanged(generator):
    outdated = stale(generator.generate())
    assert outdated == [], (f"stale generated files {outdated}: run "
                            f"`python -m {generator.__name__}` and commit the result")


def test_given_a_stale_file_when_a_generator_checks_then_it_exits_1_and_names_the_file(tmp_path):
    run = subprocess.run([sys.executable, "-c",
                          "import sys; from hardware.schematics import boardgen, golden;"
                          f"out = {{__import__('pathlib').Path({str(tmp_path / 'x.py')!r}): 'new'}};"
                          "sys.exit(golden.write_or_check(lambda: out, ['--check'], 'board config'))"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "stale board config" in run.stdout and "x.py" in run.stdout


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_board_config_when_micropython_imports_it_then_it_holds_the_pin_map(board):
    """The esp32/rp2 ports import firmware.boards under MicroPython, so read it there, not in CPython."""
    code = ("import json\nfrom firmware.boards import load\n"
            f"b = load({board!r})\n"
            "print(json.dumps({'pins': b.PINS, 'low': sorted(b.ACTIVE_LOW), 'up': sorted(b.PULL_UP),"
            " 'keys': sorted(b.KEYS), 'uarts': b.UARTS, 'adc': b.ADC, 'chip': b.CHIP, 'kind': b.KIND}))\n")
    run = run_code(code, timeout=30)
    assert run.returncode == 0, run.stderr.decode()
    got = json.loads(run.stdout.decode().strip().splitlines()[-1])
    pin_map = load_board(board_file(board))
    assert got["pins"] == {p.function: p.gpio for p in pin_map.pins}
    assert got["low"] == sorted(p.function for p in pin_map.pins if p.active == "low")
    assert got["up"] == sorted(p.function for p in pin_map.pins if p.pull == "up")
    assert got["keys"] == sorted(p.function for p in pin_map.pins if p.use == "key")
    assert got["uarts"] == {u.name: {"id": u.id, "tx": pin_map.pin(u.tx).gpio, "rx": pin_map.pin(u.rx).gpio,
                                     "baud": u.baud} for u in pin_map.uarts}
    assert {f: a["gpio"] for f, a in got["adc"].items()} == {a.function: pin_map.pin(a.function).gpio
                                                              for a in pin_map.adc}
    assert (got["chip"], got["kind"]) == (pin_map.chip.name, pin_map.kind)


def test_given_an_unknown_board_name_when_micropython_loads_it_then_it_refuses_with_the_known_boards():
    run = run_code("from firmware.boards import load\nload('esp8266_toaster')\n", timeout=30)
    output = (run.stdout + run.stderr).decode()   # the unix port prints tracebacks on stdout
    assert run.returncode != 0
    assert "ValueError: unknown board 'esp8266_toaster'" in output and "esp32_button" in output


def test_given_the_firmware_function_names_then_the_button_and_tracker_boards_use_them():
    button = {p.function for p in load_board(board_file("esp32_button")).pins}
    assert {"sos_police", "sos_fire", "sos_medical", "tamper", "led_red", "led_green", "led_blue",
            "buzzer", "battery_adc"} <= button
    tracker = {p.function for p in load_board(board_file("esp32_tracker")).pins}
    assert {"gps_tx", "gps_rx", "modem_tx", "modem_rx", "modem_pwrkey", "modem_reset", "key_available",
            "key_enroute", "key_onscene", "key_returning", "key_oos", "key_accept", "key_sos",
            "ignition", "buzzer", "led"} <= tracker
    pico = {p.function for p in load_board(board_file("picow_button")).pins}
    assert {"sos", "tamper", "buzzer", "battery_adc"} <= pico


def test_given_a_pin_map_that_fails_the_checker_then_no_firmware_config_is_generated():
    bad = parsed(move(board_data("esp32_button"), "led_red", 34))
    with pytest.raises(BoardFormatError, match="input-only"):
        boardgen.board_config(bad)


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_wiring_diagram_then_it_shows_every_pin_by_gpio_and_function(board):
    pin_map = load_board(board_file(board))
    svg = render.wiring_svg(pin_map)
    texts = set(re.findall(r"<text[^>]*>([^<]*)</text>", svg)) | set(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg))
    for pin in pin_map.pins:
        assert pin.function in texts, pin.function
        assert pin_map.chip.pin_name(pin.gpio) in texts, pin.gpio


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_bom_then_every_part_of_the_netlist_is_counted_once(board):
    pin_map = load_board(board_file(board))
    rows = bom.bom_rows(pin_map)
    refs = [r for row in rows for r in row["references"].split()]
    assert sorted(refs) == sorted(p.ref for p in pin_map.parts)
    assert all(row["quantity"] == len(row["references"].split()) for row in rows)
    assert all(row["manufacturer_part_number"] and row["footprint"] for row in rows)
