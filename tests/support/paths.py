"""Where the repository, the shared captures and the tools are."""
import os
from pathlib import Path

from simulators.micropython import micropython_binary  # noqa: F401  (the one place that finds it)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SIAGA_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

