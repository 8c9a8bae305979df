"""What each GPIO of a chip can do: the capability tables the pin checker judges a pin map against.

Sources: Espressif "ESP32 Series Datasheet" v4.x (section 2.2 pin description, 2.4 strapping pins,
ADC channels) and the ESP32-WROOM-32E datasheet (GPIO 6-11 wired to the in-package SPI flash);
Raspberry Pi "RP2040 Datasheet" (1.4.3 GPIO functions) and "Pico W Datasheet" (GP23-25 and GP29 wired
to the CYW43439 wireless chip; GP29 also samples VSYS/3 through the same pin).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UartPins:
    """Which pins a UART may use. None means any output-capable pin (ESP32's GPIO matrix)."""
    tx: frozenset | None
    rx: frozenset | None
    default_tx: int | None = None
    default_rx: int | None = None


@dataclass(frozen=True)
class Chip:
    name: str
    pin_prefix: str                      # how the MCU's pins are named in the netlist: GPIO32, GP16
    gpios: frozenset                     # GPIO numbers that exist on the package
    max_volts: float                     # no pin is tolerant above this
    input_only: frozenset = frozenset()  # cannot drive a load; no internal pulls either
    flash: frozenset = frozenset()       # wired to the SPI flash: unusable
    radio: frozenset = frozenset()       # wired to the wireless chip: unusable
    strapping: dict = field(default_factory=dict)  # gpio -> what the level at reset selects
    adc1: frozenset = frozenset()
    adc2: frozenset = frozenset()        # ESP32: the Wi-Fi driver owns ADC2 while Wi-Fi is on
    uarts: dict = field(default_factory=dict)      # uart id -> UartPins
    reserved_uarts: dict = field(default_factory=dict)  # uart id -> why it is not free

    def pin_name(self, gpio: int) -> str:
        return f"{self.pin_prefix}{gpio}"

    @property
    def adc(self) -> frozenset:
        return self.adc1 | self.adc2


ESP32 = Chip(
    name="esp32",
    pin_prefix="GPIO",
    gpios=frozenset(list(range(0, 20)) + [21, 22, 23, 25, 26, 27] + list(range(32, 40))),
    max_volts=3.6,
    input_only=frozenset({34, 35, 36, 37, 38, 39}),
    flash=frozenset(range(6, 12)),
    strapping={
        0: "GPIO0 low at reset enters the serial bootloader instead of running the firmware",
        2: "GPIO2 must be low or floating at reset for the serial bootloader",
        5: "GPIO5 sets the SDIO slave timing at reset",
        12: "GPIO12 is MTDI: high at reset selects 1.8 V flash voltage and a 3.3 V-flash module "
            "fails to boot",
        15: "GPIO15 (MTDO) low at reset silences the boot log and changes SDIO timing",
    },
    adc1=frozenset({32, 33, 34, 35, 36, 37, 38, 39}),
    adc2=frozenset({0, 2, 4, 12, 13, 14, 15, 25, 26, 27}),
    # Every ESP32 UART can be routed to any pin through the GPIO matrix; the defaults are listed so a
    # reader sees why UART1's defaults (GPIO9/10, the flash) are never used as they are.
    uarts={0: UartPins(None, None, 1, 3), 1: UartPins(None, None, 10, 9), 2: UartPins(None, None, 17, 16)},
    reserved_uarts={0: "UART0 (GPIO1/3) carries the USB REPL that provisioning and logs use"},
)

# Raspberry Pi Pico W (RP2040): UART pins are fixed per function (RP2040 datasheet table 2).
PICO_W = Chip(
    name="rp2040",
    pin_prefix="GP",
    gpios=frozenset(range(0, 30)),
    max_volts=3.6,
    radio=frozenset({23, 24, 25, 29}),
    adc1=frozenset({26, 27, 28}),
    uarts={
        0: UartPins(frozenset({0, 12, 16, 28}), frozenset({1, 13, 17}), 0, 1),
        1: UartPins(frozenset({4, 8, 20}), frozenset({5, 9, 21}), 4, 5),
    },
)

CHIPS = {"esp32": ESP32, "rp2040": PICO_W}
