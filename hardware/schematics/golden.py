"""Generated files are committed (reviewable diffs); every generator writes them, or with --check
reports which ones are stale, through this one function."""
from __future__ import annotations

import sys
from pathlib import Path

from hardware.schematics.boardmap import BoardFormatError


def stale(outputs: dict[Path, str]) -> list[Path]:
    """The files whose committed text differs from what the generator produces now."""
    return [path for path, text in outputs.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def write_or_check(generate, argv: list[str], what: str) -> int:
    """`generate()` returns {path: text}. Writes them, or with --check lists the stale ones (exit 1)."""
    try:
        outputs = generate()
    except BoardFormatError as exc:
        print(f"cannot generate {what}: {exc}", file=sys.stderr)
        return 2
    if "--check" in argv:
        old = stale(outputs)
        for path in old:
            print(f"stale {what}: {path} (run the generator without --check)")
        return 1 if old else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
