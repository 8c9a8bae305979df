"""Put a MicroPython image onto an ESP32 with esptool (run in-process through its documented
`esptool.main(argv)` entry point). Images are the technician's to download from micropython.org;
nothing is fetched here."""
from __future__ import annotations

from pathlib import Path

from fleet_server.i18n import N_
from fleet_server.provisioning.errors import PortError, ProvisioningError

# Where a MicroPython image starts in flash, per chip (micropython.org/download).
OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}


def write_flash_args(port: str, image: Path, chip: str = "esp32", baud: int = 460800, erase: bool = True) -> list[str]:
    """The esptool argv: erase (a clean file system) then write the image at the chip's offset."""
    if chip not in OFFSETS:
        raise ProvisioningError(N_("unknown chip {chip}"), N_("one of {chips}"), chip=repr(chip), chips=", ".join(OFFSETS))
    return ["--chip", chip, "--port", port, "--baud", str(baud), "write-flash", "-z",
            *(["--erase-all"] if erase else []), OFFSETS[chip], str(image)]


def check_image(image: Path) -> None:
    image = Path(image)
    if not image.is_file():
        raise ProvisioningError(N_("no firmware image at {image}"),
                                N_("download the ESP32 .bin from micropython.org/download/ESP32_GENERIC/"), image=image)
    with open(image, "rb") as f:
        magic = f.read(1)
    if magic != b"\xe9":   # every ESP32 app/bootloader image starts with 0xE9
        raise ProvisioningError(N_("{image} is not an ESP32 image (first byte {magic}, expected 0xe9)"),
                                N_("use the .bin (not .uf2 or .elf) for your chip"), image=image, magic=repr(magic))


def flash(port: str, image: Path, chip: str = "esp32", baud: int = 460800, erase: bool = True) -> list[str]:
    import esptool

    check_image(image)
    argv = write_flash_args(port, image, chip, baud, erase)
    try:
        esptool.main(argv)
    except (esptool.FatalError, OSError) as e:
        first = str(e).strip().splitlines()[0]
        raise PortError(N_("esptool could not flash the {chip} on {port}: {error}"),
                        N_("is the board plugged in (ls /dev/ttyUSB* /dev/ttyACM*)? a charge-only USB cable carries "
                           "no data; hold BOOT while pressing EN to enter the bootloader; try --baud 115200"),
                        chip=chip, port=port, error=first) from None
    except SystemExit as e:   # esptool's argument parser exits on what it cannot parse
        raise ProvisioningError(N_("esptool refused its arguments {argv} (exit {code})"), argv=argv,
                                code=e.code) from None
    return argv
