"""Shipped pin maps as plain data that a test may change, with moves that keep the netlist consistent,
so a crafted bad map fails on the one rule the test is about and not on a dangling net."""
from __future__ import annotations

import copy

import yaml

from hardware.schematics import board_file
from hardware.schematics.boardmap import Board, parse_board
from hardware.schematics.chips import CHIPS

_CACHE: dict[str, dict] = {}


def board_data(name: str) -> dict:
    if name not in _CACHE:
        _CACHE[name] = yaml.safe_load(board_file(name).read_text(encoding="utf-8"))
    return copy.deepcopy(_CACHE[name])


def pin_entry(data: dict, function: str) -> dict:
    return next(p for p in data["pins"] if p["function"] == function)


def move(data: dict, function: str, gpio: int) -> dict:
    """Put `function` on `gpio`, rewiring its MCU node in the netlist."""
    chip = CHIPS[data["chip"]]
    entry = pin_entry(data, function)
    old = f"{data['mcu_ref']}.{chip.pin_name(entry['gpio'])}"
    new = f"{data['mcu_ref']}.{chip.pin_name(gpio)}"
    entry["gpio"] = gpio
    nodes = data["nets"][entry["net"]]
    nodes[nodes.index(old)] = new
    return data


def parsed(data: dict) -> Board:
    return parse_board(data)
