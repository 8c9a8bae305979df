"""One `board.yaml` per device kind is the single source: the pin checker validates it, and the
wiring diagram (`wiring.svg`), the bill of materials (`bom.csv`) and the firmware board config
(`firmware/boards/<board>.py`) are generated from it."""
from pathlib import Path

SCHEMATICS = Path(__file__).resolve().parent
BOARDS = ("esp32_button", "esp32_tracker", "picow_button")


def board_file(board: str) -> Path:
    return SCHEMATICS / board / "board.yaml"
