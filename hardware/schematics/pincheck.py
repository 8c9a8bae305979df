"""The pin checker: rejects pin maps whose pins clash or cannot do their job on the chip.

    python -m hardware.schematics.pincheck [board.yaml ...]   # default: every shipped board

Each problem names the function, the GPIO, a short rule code (stable, for tests and tooling) and a
reason a technician can act on. Exit status 1 if any board has a problem.
"""
from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python hardware/schematics/x.py): find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hardware.schematics import BOARDS, board_file
from hardware.schematics.boardmap import USES_IN, USES_OUT, Board, BoardFormatError, Pin, load_board
from hardware.schematics.chips import ESP32

log = logging.getLogger("siaga.hardware.pincheck")

# Inputs that something outside the MCU can hold at a level during power-up: a key a citizen is
# pressing, a closed tamper switch, the ignition opto, a module's TX line idling high.
DRIVEN_AT_BOOT = ("key", "switch", "sense", "uart_rx")


@dataclass(frozen=True)
class Problem:
    function: str
    gpio: int | None
    rule: str
    reason: str

    def __str__(self) -> str:
        at = f" (GPIO {self.gpio})" if self.gpio is not None else ""
        return f"{self.function}{at}: [{self.rule}] {self.reason}"


def check(board: Board) -> list[Problem]:
    problems: list[Problem] = []
    problems += _conflicts(board)
    for pin in board.pins:
        problems += _pin_problems(board, pin)
    problems += _uart_problems(board)
    problems += _adc_problems(board)
    problems += _netlist_problems(board)
    problems += _modem_supply_problems(board)
    for p in problems:
        log.warning("board %s: %s", board.board, p)
    return problems


def _conflicts(board: Board) -> list[Problem]:
    problems, by_gpio, by_function = [], {}, set()
    for pin in board.pins:
        if pin.function in by_function:
            problems.append(Problem(pin.function, pin.gpio, "duplicate-function",
                                    f"function {pin.function!r} is mapped twice; the firmware would see only one pin"))
        by_function.add(pin.function)
        if pin.gpio in by_gpio:
            problems.append(Problem(pin.function, pin.gpio, "conflict",
                                    f"GPIO {pin.gpio} is already used by {by_gpio[pin.gpio]!r}"))
        else:
            by_gpio[pin.gpio] = pin.function
    return problems


def _pin_problems(board: Board, pin: Pin) -> list[Problem]:  # noqa: C901 - one rule per branch
    chip, g = board.chip, pin.gpio
    out: list[Problem] = []

    def bad(rule: str, reason: str) -> None:
        out.append(Problem(pin.function, g, rule, reason))

    if g not in chip.gpios:
        bad("no-such-gpio", f"{chip.name} has no GPIO {g}")
        return out
    if g in chip.flash:
        bad("flash", f"GPIO {g} is wired to the module's SPI flash (GPIO 6-11); using it crashes the chip")
        return out
    if g in chip.radio:
        bad("radio", f"GP{g} is used by the Pico W's CYW43 wireless chip (GP23-25, GP29)")
        return out
    wanted = "in" if pin.use in USES_IN else "out"
    if pin.direction != wanted:
        bad("direction", f"a {pin.use} pin must be direction {wanted}, not {pin.direction}")
    if pin.use in USES_OUT and g in chip.input_only:
        bad("input-only", f"GPIO {g} is input-only (GPIO 34-39 have no output driver); "
                          f"it cannot drive a {pin.use}")
    if pin.pull in ("up", "down") and g in chip.input_only:
        bad("no-internal-pull", f"GPIO {g} has no internal pull resistors; fit an external one "
                                f"and write pull: external_{pin.pull}")
    if pin.use in ("key", "switch") and pin.pull == "none":
        bad("floating", f"a {pin.use} needs a pull resistor, or the input floats and reads "
                        "phantom presses")
    if pin.use == "adc":
        if g not in chip.adc:
            usable = chip.adc1 if board.wifi else chip.adc
            bad("not-adc", f"{chip.pin_name(g)} has no ADC channel; usable ADC pins are "
                           f"{_gpio_list(usable, chip.pin_prefix)}")
        elif g in chip.adc2 and board.wifi:
            bad("adc2-wifi", f"GPIO {g} is on ADC2, which the Wi-Fi driver owns while Wi-Fi is on; "
                             f"use an ADC1 pin ({_gpio_list(chip.adc1)})")
    if g in chip.strapping and pin.use in DRIVEN_AT_BOOT:
        bad("strapping", f"strapping pin: {chip.strapping[g]}; a {pin.use} held during power-up "
                         "would change how the chip boots")
    if chip is ESP32 and g == 12 and pin.pull in ("up", "external_up"):
        bad("strapping", chip.strapping[12])
    if pin.voltage > chip.max_volts:
        bad("voltage", f"{pin.voltage:g} V on a pin rated to {chip.max_volts:g} V; {chip.name} pins are "
                       "not 5 V tolerant, use a divider, level shifter or optocoupler")
    return out


def _uart_problems(board: Board) -> list[Problem]:
    out: list[Problem] = []
    for uart in board.uarts:
        spec = board.chip.uarts.get(uart.id)
        if spec is None:
            out.append(Problem(uart.name, None, "uart", f"{board.chip.name} has no UART{uart.id}"))
            continue
        if uart.id in board.chip.reserved_uarts:
            out.append(Problem(uart.name, None, "uart-reserved", board.chip.reserved_uarts[uart.id]))
        for role, function, allowed in (("tx", uart.tx, spec.tx), ("rx", uart.rx, spec.rx)):
            pin = board.pin(function)
            if pin is None:
                out.append(Problem(uart.name, None, "uart", f"{role} names {function!r}, which is not in pins"))
                continue
            if pin.use != f"uart_{role}":
                out.append(Problem(function, pin.gpio, "uart", f"UART {role} pin must have use uart_{role}"))
            if allowed is not None and pin.gpio not in allowed:
                out.append(Problem(function, pin.gpio, "uart-pins",
                                   f"UART{uart.id} {role.upper()} can only be on "
                                   f"{_gpio_list(allowed, board.chip.pin_prefix)}"))
    return out


def _adc_problems(board: Board) -> list[Problem]:
    out: list[Problem] = []
    described = {a.function for a in board.adc}
    for pin in board.pins:
        if pin.use == "adc" and pin.function not in described:
            out.append(Problem(pin.function, pin.gpio, "adc-divider",
                               "an adc pin needs an adc entry (divider resistors, attenuation)"))
    for a in board.adc:
        pin = board.pin(a.function)
        if pin is None or pin.use != "adc":
            out.append(Problem(a.function, None, "adc-divider", "adc entry names no adc pin"))
            continue
        on_pin = a.rail_max * a.r_bottom / (a.r_top + a.r_bottom)
        if on_pin > board.chip.max_volts:
            out.append(Problem(a.function, pin.gpio, "voltage",
                               f"the divider puts {on_pin:.2f} V on the pin when {a.measures} is at "
                               f"{a.rail_max:g} V; {board.chip.name} pins take at most {board.chip.max_volts:g} V"))
    return out


def _netlist_problems(board: Board) -> list[Problem]:
    out: list[Problem] = []
    refs = {p.ref for p in board.parts}
    if board.mcu_ref not in refs:
        out.append(Problem(board.mcu_ref, None, "netlist", "the MCU reference is not in parts"))
    seen: dict[str, str] = {}
    for net, nodes in board.nets.items():
        for node in nodes:
            ref = node.split(".")[0]
            if ref not in refs:
                out.append(Problem(net, None, "netlist", f"net {net} names {node}, but no part is {ref}"))
            if node in seen:
                out.append(Problem(net, None, "netlist", f"{node} is on both {seen[node]} and {net} (short)"))
            seen[node] = net
    on_nets = {node.split(".")[0] for node in seen}
    for part in board.parts:
        if part.ref not in on_nets:
            out.append(Problem(part.ref, None, "netlist", f"{part.ref} ({part.part}) is on no net"))
    for pin in board.pins:
        node = f"{board.mcu_ref}.{board.chip.pin_name(pin.gpio)}"
        if pin.net not in board.nets:
            out.append(Problem(pin.function, pin.gpio, "netlist", f"net {pin.net} is not in nets"))
        elif node not in board.nets[pin.net]:
            out.append(Problem(pin.function, pin.gpio, "netlist", f"net {pin.net} does not connect {node}"))
    return out


# SIM800: 2 A bursts, 3.4-4.4 V. The bulk capacitor must sit on the module's own supply net.
MODEM_BULK_MICROFARADS = 1000
_MICROFARADS = re.compile(r"(\d+(?:\.\d+)?)\s*[µu]F")


def _modem_supply_problems(board: Board) -> list[Problem]:
    out: list[Problem] = []
    parts = {p.ref: p for p in board.parts}
    for modem in (p for p in board.parts if p.role == "modem"):
        supply = next((net for net, nodes in board.nets.items() if f"{modem.ref}.VCC" in nodes), None)
        if supply is None:
            out.append(Problem(modem.ref, None, "modem-supply", f"{modem.ref}.VCC is on no net"))
            continue
        nodes = board.nets[supply]
        if f"{board.mcu_ref}.3V3" in nodes or supply == "3V3":
            out.append(Problem(modem.ref, None, "modem-supply",
                               f"{modem.ref} ({modem.value}) is fed from the 3.3 V rail: it needs 3.4-4.4 V "
                               "and 2 A bursts; feed it from the cell directly or a 4.0 V buck"))
        bulk = 0.0
        for node in nodes:
            part = parts.get(node.split(".")[0])
            found = _MICROFARADS.search(part.value) if part else None
            if found:
                bulk += float(found.group(1))
        if bulk < MODEM_BULK_MICROFARADS:
            out.append(Problem(modem.ref, None, "modem-supply",
                               f"{supply} has {bulk:g} µF at {modem.ref}; the 2 A GSM bursts need at least "
                               f"{MODEM_BULK_MICROFARADS} µF low-ESR at the module"))
    return out


def _gpio_list(gpios, prefix: str = "GPIO") -> str:
    return ", ".join(f"{prefix}{g}" for g in sorted(gpios))


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [board_file(b) for b in BOARDS]
    failed = False
    for path in paths:
        try:
            board = load_board(path)
        except (OSError, BoardFormatError) as exc:
            print(f"{path}: cannot read: {exc}")
            failed = True
            continue
        problems = check(board)
        failed |= bool(problems)
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for p in problems:
            print(f"  {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
