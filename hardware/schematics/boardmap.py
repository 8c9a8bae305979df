"""The board pin map and netlist (`<board>/board.yaml`) read into plain objects.

A malformed file raises BoardFormatError with the reason and where it is; whether the pins can do
their job on the chip is the pin checker's question (pincheck.py), not this module's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hardware.schematics.chips import CHIPS, Chip

# What a pin is used for decides which direction it must have and which chip rules apply.
USES_IN = ("key", "switch", "sense", "adc", "uart_rx")
USES_OUT = ("led", "buzzer", "control", "uart_tx")
USES = USES_IN + USES_OUT
PULLS = ("up", "down", "none", "external_up", "external_down")
KINDS = ("button", "tracker")  # the device kinds of protocols.messages.KINDS that have a board here


class BoardFormatError(ValueError):
    """The pin map file is not shaped like a pin map; the message says where and why."""


@dataclass(frozen=True)
class Pin:
    function: str
    gpio: int
    use: str
    direction: str
    pull: str
    active: str
    voltage: float
    net: str
    note: str = ""


@dataclass(frozen=True)
class Uart:
    name: str
    id: int
    tx: str   # function names of the pins, e.g. "modem_tx"
    rx: str
    baud: int


@dataclass(frozen=True)
class Adc:
    function: str
    r_top: int        # divider resistor from the measured rail to the pin, ohms
    r_bottom: int     # from the pin to ground, ohms
    atten_db: int
    measures: str     # the net whose voltage the divider scales
    rail_max: float   # the highest voltage that net reaches (full LiPo, charging 24 V truck)


@dataclass(frozen=True)
class Part:
    ref: str
    part: str
    value: str
    footprint: str
    mpn: str
    optional: bool = False
    role: str = ""     # "modem" marks the GSM module, whose supply the checker inspects


@dataclass
class Board:
    board: str
    kind: str
    title: str
    chip: Chip
    module: str
    mcu_ref: str
    wifi: bool
    pins: list
    uarts: list = field(default_factory=list)
    adc: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    nets: dict = field(default_factory=dict)   # net name -> list of "REF.PIN"

    def pin(self, function: str) -> Pin | None:
        for p in self.pins:
            if p.function == function:
                return p
        return None


def load_board(path: str | Path) -> Board:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BoardFormatError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_board(data)
    except BoardFormatError as exc:
        raise BoardFormatError(f"{path}: {exc}") from exc


def parse_board(data) -> Board:
    top = _mapping(data, "the file")
    chip_name = _text(top, "chip", "the file")
    if chip_name not in CHIPS:
        raise BoardFormatError(f"chip {chip_name!r} is not one of {sorted(CHIPS)}")
    kind = _text(top, "kind", "the file")
    if kind not in KINDS:
        raise BoardFormatError(f"kind {kind!r} is not one of {list(KINDS)}")
    wifi = top.get("wifi")
    if type(wifi) is not bool:
        raise BoardFormatError("wifi must be true or false (it decides whether ADC2 is usable)")
    raw_pins = top.get("pins")
    if not isinstance(raw_pins, list) or not raw_pins:
        raise BoardFormatError("pins must be a non-empty list")
    return Board(
        board=_text(top, "board", "the file"),
        kind=kind,
        title=_text(top, "title", "the file"),
        chip=CHIPS[chip_name],
        module=_text(top, "module", "the file"),
        mcu_ref=_text(top, "mcu_ref", "the file"),
        wifi=wifi,
        pins=[_pin(p, i) for i, p in enumerate(raw_pins)],
        uarts=[_uart(name, u) for name, u in _mapping(top.get("uarts", {}), "uarts").items()],
        adc=[_adc(name, a) for name, a in _mapping(top.get("adc", {}), "adc").items()],
        parts=[_part(p, i) for i, p in enumerate(_list(top.get("parts", []), "parts"))],
        nets={str(name): _nodes(name, nodes) for name, nodes in _mapping(top.get("nets", {}), "nets").items()},
    )


def _pin(raw, index: int) -> Pin:
    where = f"pins[{index}]"
    p = _mapping(raw, where)
    function = _text(p, "function", where)
    where = f"pin {function!r}"
    gpio = p.get("gpio")
    if type(gpio) is not int:
        raise BoardFormatError(f"{where}: gpio must be an integer, got {gpio!r}")
    use = _choice(p, "use", USES, where)
    direction = _choice(p, "direction", ("in", "out"), where)
    pull = _choice(p, "pull", PULLS, where)
    active = _choice(p, "active", ("high", "low"), where)
    voltage = p.get("voltage")
    if type(voltage) not in (int, float):
        raise BoardFormatError(f"{where}: voltage must be a number of volts, got {voltage!r}")
    return Pin(function, gpio, use, direction, pull, active, float(voltage), _text(p, "net", where),
               str(p.get("note", "")))


def _uart(name, raw) -> Uart:
    where = f"uart {name!r}"
    u = _mapping(raw, where)
    uid, baud = u.get("id"), u.get("baud")
    if type(uid) is not int or type(baud) is not int:
        raise BoardFormatError(f"{where}: id and baud must be integers")
    return Uart(str(name), uid, _text(u, "tx", where), _text(u, "rx", where), baud)


def _adc(function, raw) -> Adc:
    where = f"adc {function!r}"
    a = _mapping(raw, where)
    values = [a.get(k) for k in ("r_top", "r_bottom", "atten_db")]
    if any(type(v) is not int for v in values) or values[1] <= 0 or values[0] < 0:
        raise BoardFormatError(f"{where}: r_top, r_bottom (ohms, r_bottom > 0) and atten_db must be integers")
    rail_max = a.get("rail_max")
    if type(rail_max) not in (int, float) or rail_max <= 0:
        raise BoardFormatError(f"{where}: rail_max must be the measured rail's highest voltage, got {rail_max!r}")
    return Adc(str(function), values[0], values[1], values[2], _text(a, "measures", where), float(rail_max))


def _part(raw, index: int) -> Part:
    where = f"parts[{index}]"
    p = _mapping(raw, where)
    return Part(*(_text(p, k, where) for k in ("ref", "part", "value", "footprint", "mpn")),
                optional=bool(p.get("optional", False)), role=str(p.get("role", "")))


def _nodes(name, raw) -> list:
    nodes = _list(raw, f"net {name!r}")
    for node in nodes:
        if not isinstance(node, str) or node.count(".") != 1 or "" in node.split("."):
            raise BoardFormatError(f"net {name!r}: node {node!r} is not REF.PIN")
    return nodes


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise BoardFormatError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise BoardFormatError(f"{where} must be a list, got {type(value).__name__}")
    return value


def _text(d: dict, key: str, where: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value:
        raise BoardFormatError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _choice(d: dict, key: str, choices: tuple, where: str) -> str:
    value = d.get(key)
    if value not in choices:
        raise BoardFormatError(f"{where}: {key} must be one of {list(choices)}, got {value!r}")
    return value
