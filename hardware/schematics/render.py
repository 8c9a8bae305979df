"""Draws each board's wiring diagram (`<board>/wiring.svg`) from its pin map and netlist, with schemdraw.

    python -m hardware.schematics.render           # rewrite every wiring.svg
    python -m hardware.schematics.render --check   # exit 1 if a committed SVG is stale

The MCU sits in the middle with its GPIO numbers; inputs leave on the left, outputs on the right,
each drawn by what the pin is used for (a key to ground, a resistor and LED, a divider...) and
labelled with the function name the firmware uses and the part references of the netlist. The power
nets are listed underneath. schemdraw's own SVG backend writes text as <text> and needs no fonts,
so the output is byte-stable for a given schemdraw version (pinned in pyproject.toml).
"""
from __future__ import annotations

import sys
from pathlib import Path

import schemdraw
import schemdraw.elements as elm

if __package__ in (None, ""):  # run as a file (python hardware/schematics/x.py): find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hardware.schematics import BOARDS, SCHEMATICS, board_file
from hardware.schematics.boardmap import Board, Part, Pin, load_board
from hardware.schematics.golden import write_or_check

PIN_SPACING = 2.5
# adc last: its divider hangs downwards. Within a use, external pull-ups first, so two pull-ups
# drawn upwards are never on neighbouring rows.
INPUT_ORDER = ("key", "switch", "sense", "uart_rx", "adc")
OUTPUT_ORDER = ("led", "buzzer", "control", "uart_tx")
POWER_NETS = ("GND",)


def wiring_svg(board: Board) -> str:
    schemdraw.use("svg")
    inputs = sorted((p for p in board.pins if p.use in INPUT_ORDER),
                    key=lambda p: (INPUT_ORDER.index(p.use), not p.pull.startswith("external"), p.function))
    outputs = sorted((p for p in board.pins if p.use in OUTPUT_ORDER),
                     key=lambda p: (OUTPUT_ORDER.index(p.use), p.function))
    d = schemdraw.Drawing(show=False)
    d.config(fontsize=11, unit=2.5, margin=1.5, bgcolor="white")
    chip_pins = [elm.IcPin(name=board.chip.pin_name(p.gpio), side="left", anchorname=p.function)
                 for p in reversed(inputs)]
    chip_pins += [elm.IcPin(name=board.chip.pin_name(p.gpio), side="right", anchorname=p.function)
                  for p in reversed(outputs)]
    mcu = _part(board, board.mcu_ref)
    ic = elm.Ic(pins=chip_pins, pinspacing=PIN_SPACING, edgepadH=0.8, edgepadW=1.5, leadlen=0.8,
                lblsize=12).label(f"{board.mcu_ref} {mcu.value}", "top")
    d += ic
    for pin in inputs:
        _draw_input(d, board, pin, getattr(ic, pin.function))
    for pin in outputs:
        _draw_output(d, board, pin, getattr(ic, pin.function))
    d += elm.Label().at((ic.bbox.xmin, ic.bbox.ymin - PIN_SPACING * 2)).label(
        _power_text(board), loc="right", halign="left", valign="top", fontsize=9)
    d += elm.Label().at((ic.bbox.xmin - 12, ic.bbox.ymax + 2.5)).label(board.title, halign="left", fontsize=14)
    return d.get_imagedata("svg").decode("utf-8")


def _draw_input(d: schemdraw.Drawing, board: Board, pin: Pin, at) -> None:
    refs = _neighbours(board, pin)
    d += elm.Line().at(at).left().length(3.0).label(pin.function, "top", fontsize=10)
    if pin.pull.startswith("external"):
        d.push()
        d += elm.Dot()
        d += elm.Resistor().up().length(1.4).label(_ref(board, refs, "R"), "left", fontsize=8)
        d += elm.Vdd().label("3V3" if pin.pull == "external_up" else "GND", fontsize=8)
        d.pop()
    d += elm.Line().left().length(1.0)
    if pin.use == "key":
        d += elm.Button().left().label(_ref(board, refs, "SW"), "top", fontsize=9)
        d += elm.Ground()
    elif pin.use == "switch":
        d += elm.Switch().left().label(_ref(board, refs, "SW"), "top", fontsize=9)
        d += elm.Ground()
    elif pin.use == "adc":
        adc = next(a for a in board.adc if a.function == pin.function)
        d += elm.Dot()
        d.push()
        top_ref, bottom_ref = _divider_refs(board, pin)
        d += elm.Resistor().down().length(2.0).label(f"{bottom_ref} {_ohms(adc.r_bottom)}", "bottom", fontsize=8)
        d += elm.Ground()
        d.pop()
        d += elm.Resistor().left().label(f"{top_ref} {_ohms(adc.r_top)}", "top", fontsize=8)
        d += elm.Dot(open=True).label(adc.measures, "left", fontsize=9)
    else:
        pull_ref = _ref(board, refs, "R").split(" ")[0] if pin.pull.startswith("external") else None
        d += elm.Dot(open=True).label(_far_label(board, pin, skip=pull_ref), "left", fontsize=9)


def _draw_output(d: schemdraw.Drawing, board: Board, pin: Pin, at) -> None:
    refs = _neighbours(board, pin)
    d += elm.Line().at(at).right().length(1.5).label(pin.function, "top", fontsize=10)
    resistor = next((r for r in refs if r.startswith("R")), None)
    if resistor:
        d += elm.Resistor().right().label(f"{resistor} {_part(board, resistor).value}", "top", fontsize=8)
    else:
        d += elm.Line().right().length(1.5)
    if pin.use == "led":
        d += elm.LED().right().label(_beyond(board, resistor) if resistor else ", ".join(refs), "top", fontsize=8)
        d += elm.Ground()
    else:
        target = _beyond(board, resistor) if resistor else _far_label(board, pin)
        d += elm.Dot(open=True).label(target, "right", fontsize=9)


def _divider_refs(board: Board, pin: Pin) -> tuple[str, str]:
    """The divider's resistors: the one whose far end is on ground is the bottom one."""
    resistors = [n.split(".") for n in board.nets.get(pin.net, []) if n.startswith("R")]
    ground = set(board.nets.get("GND", []))
    top = bottom = ""
    for ref, end in resistors:
        far = f"{ref}.{'1' if end == '2' else '2'}"
        if far in ground:
            bottom = ref
        else:
            top = ref
    return top, bottom


def _ohms(value: int) -> str:
    return f"{value // 1000} kΩ" if value % 1000 == 0 else f"{value} Ω"


def _neighbours(board: Board, pin: Pin) -> list[str]:
    """The part references on the pin's net, other than the MCU."""
    return [n.split(".")[0] for n in board.nets.get(pin.net, []) if not n.startswith(board.mcu_ref + ".")]


def _beyond(board: Board, resistor: str) -> str:
    """What a series resistor leads to: the nodes on the net of its other end."""
    for nodes in board.nets.values():
        if f"{resistor}.2" in nodes:
            return ", ".join(_describe(board, n) for n in nodes if n != f"{resistor}.2")
    return resistor


def _far_label(board: Board, pin: Pin, skip: str | None = None) -> str:
    """Where a wire goes: the other nodes on the pin's net (less a pull-up already drawn)."""
    nodes = [n for n in board.nets.get(pin.net, [])
             if n.split(".")[0] not in (board.mcu_ref, skip)]
    return ", ".join(_describe(board, n) for n in nodes) or pin.net


def _describe(board: Board, node: str) -> str:
    ref, pin_name = node.split(".")
    part = _part(board, ref)
    return f"{ref}.{pin_name} ({part.value})" if part else node


def _ref(board: Board, refs: list[str], prefix: str) -> str:
    ref = next((r for r in refs if r.startswith(prefix)), None)
    return f"{ref} {_part(board, ref).value}" if ref else ""


def _part(board: Board, ref: str) -> Part | None:
    return next((p for p in board.parts if p.ref == ref), None)


def _power_text(board: Board) -> str:
    lines = ["Power and ground (full netlist: board.yaml; notes: POWER.md)"]
    for net, nodes in board.nets.items():
        if net in POWER_NETS or net[0].isdigit() or net.startswith("V"):
            shown = ", ".join(nodes[:10]) + (f", +{len(nodes) - 10} more" if len(nodes) > 10 else "")
            lines.append(f"{net}: {shown}")
    return "\n".join(lines)


def generate() -> dict[Path, str]:
    return {SCHEMATICS / name / "wiring.svg": wiring_svg(load_board(board_file(name))) for name in BOARDS}


if __name__ == "__main__":
    sys.exit(write_or_check(generate, sys.argv[1:], "wiring diagram"))
