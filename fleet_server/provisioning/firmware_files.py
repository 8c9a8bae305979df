"""What goes onto a device's flash: config.json (checked by the firmware's own parser before it is
written), main.py, and the firmware and protocol modules its entry point imports.

The module list is the import closure of the entry module, found with `ast` from the repository's
sources, so a button does not carry the tracker's code and a new firmware module is picked up
without a list to keep in step. Imports inside functions count too (the port is chosen at run
time: esp32, rp2 or sim), and only modules that exist are taken."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from fleet_server.i18n import N_
from fleet_server.provisioning.errors import ProvisioningError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("firmware", "protocols")

# kind -> (modules whose import closure goes on the flash, the two lines of main.py, the firmware's
# config parser module, config.json's "app"). firmware.main imports the tracker by name (a button's
# flash must not carry it), so a tracker names its app module beside the entry.
MAIN_PY = "from firmware.main import main\nmain()\n"
KINDS = {
    "button": (("firmware.main",), MAIN_PY, "firmware.app.config", "button"),
    "tracker": (("firmware.main", "firmware.app.tracker"), MAIN_PY, "firmware.app.tracker_config", "tracker"),
}

# --board: which port and pin file a board runs; the others are left off its flash. Without --board
# every port goes, and the firmware picks one by sys.platform at boot.
PORT_FILES = ("firmware/ports/", "firmware/boards/")
BOARDS = {
    "esp32_button": ("button", {"firmware/ports/esp32.py", "firmware/ports/mcu.py", "firmware/ports/gsm.py",
                                "firmware/boards/esp32_button.py"}),
    "esp32_tracker": ("tracker", {"firmware/ports/esp32.py", "firmware/ports/mcu.py", "firmware/ports/mcu_tracker.py",
                                  "firmware/ports/gsm.py", "firmware/boards/esp32_tracker.py"}),
    "picow_button": ("button", {"firmware/ports/rp2.py", "firmware/ports/mcu.py", "firmware/ports/gsm.py",
                                "firmware/boards/picow_button.py"}),
    # the unix binary: tests, simulators, a Linux gateway box
    "sim": (None, {"firmware/ports/sim.py", "firmware/ports/unix.py", "firmware/ports/gsm.py"}),
}
NO_BOARD_YET: dict[str, str] = {}


@dataclass(frozen=True)
class DeviceFiles:
    files: dict[str, bytes]      # path on the device -> content

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())


def _module_file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path) -> set[str]:
    """Modules of our packages that a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from firmware.ports import esp32` names a module, `from x import name` a name:
            # try both, keep what exists.
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def module_closure(*entries: str, keep=lambda rel: True) -> list[Path]:
    """Every source file the entry modules need, package __init__ files included. A file `keep`
    refuses (another board's port) is left out, and so is what only it imports."""
    seen: set[Path] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        # a package's __init__ runs before its modules
        for i in range(1, len(parts) + 1):
            f = _module_file(".".join(parts[:i]))
            if f is not None and f not in seen and keep(str(f.relative_to(REPO))):
                seen.add(f)
                todo.extend(_imports(f))
    return sorted(seen)


def check_config(kind: str, config: dict) -> dict:
    """The firmware's own parser decides whether the file is good (one set of rules)."""
    import importlib

    parser = importlib.import_module(KINDS[kind][2])
    cfg, why = parser.parse(json.dumps(config))
    if why:
        raise ProvisioningError(N_("the device would refuse this configuration: {why}"), why=why)
    return cfg


def check_board(kind: str, board: str | None) -> None:
    if board is None:
        return
    if board in NO_BOARD_YET:
        raise ProvisioningError(N_("cannot provision board {board}: {why}"), board=board, why=NO_BOARD_YET[board])
    if board not in BOARDS:
        raise ProvisioningError(N_("unknown board {board}"), N_("one of {boards}"), board=repr(board),
                                boards=", ".join(BOARDS))
    if BOARDS[board][0] not in (None, kind):
        raise ProvisioningError(N_("board {board} carries a {carries}, not a {kind}"), board=board,
                                carries=BOARDS[board][0], kind=kind)


def _for_board(path: str, board: str | None) -> bool:
    if board is None or not path.startswith(PORT_FILES) or path.endswith("__init__.py"):
        return True
    return path in BOARDS[board][1]


def code_files(kind: str, board: str | None = None) -> dict[str, bytes]:
    """The firmware a board of this kind runs, main.py included, without its configuration: what
    USB provisioning writes and what a firmware release carries."""
    if kind not in KINDS:
        raise ProvisioningError(N_("no firmware for kind {kind} in firmware/ yet"),
                                N_("provisionable kinds: {kinds}"), kind=repr(kind), kinds=", ".join(KINDS))
    check_board(kind, board)
    entries, main_py, _, _ = KINDS[kind]
    files = {str(p.relative_to(REPO)): p.read_bytes()
             for p in module_closure(*entries, keep=lambda rel: _for_board(rel, board))}
    files["main.py"] = main_py.encode()
    return files


def device_files(kind: str, config: dict, board: str | None = None) -> DeviceFiles:
    files = code_files(kind, board)
    config = {**config, "app": KINDS[kind][3]}   # firmware.main boots the app config.json names
    check_config(kind, config)
    files["config.json"] = json.dumps(config, sort_keys=True).encode()
    return DeviceFiles(files)
