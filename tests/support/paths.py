"""Where the repository, the shared captures and the tools are.

The shared third-party captures (`../shared/data`, or SIAGA_SHARED_DATA) are required: a test that
reads them fails, naming the missing path, when they are not there; it never skips and never
quietly collects nothing."""
import os
from pathlib import Path

from simulators.micropython import micropython_binary  # noqa: F401  (the one place that finds it)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SIAGA_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
MISSING = "shared data missing"
# The capture sets the tests read, one directory each (see ../shared/data/PROVENANCE.md).
CAPTURE_SETS = ("aml", "cap", "gsm", "nmea", "owntracks", "traccar")


class MissingSharedData(RuntimeError):
    pass


def shared_path(*parts: str) -> Path:
    """SHARED_DATA/parts..., which must exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        raise MissingSharedData(f"{MISSING}: {path} does not exist (point SIAGA_SHARED_DATA at the captures)")
    return path


def shared_root() -> Path:
    """SHARED_DATA, holding every capture set the tests read."""
    for name in CAPTURE_SETS:
        shared_path(name)
    return SHARED_DATA


def shared_files(*parts: str, pattern: str) -> list[Path]:
    """The files matching pattern in a shared directory; none at all is a failure, not an empty loop."""
    folder = shared_path(*parts)
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise MissingSharedData(f"{MISSING}: no {pattern} in {folder} (point SIAGA_SHARED_DATA at the captures)")
    return files


def shared_names(*parts: str, pattern: str) -> list[str]:
    """For @pytest.mark.parametrize at collection time: the file names, or, when the directory is
    missing or empty, one name saying so, so the test is collected and fails (shared_path or
    shared_files inside the test or its fixture raises) instead of being collected zero times."""
    try:
        return [p.name for p in shared_files(*parts, pattern=pattern)]
    except MissingSharedData:
        return [f"missing:{'/'.join(parts)}/{pattern}"]
