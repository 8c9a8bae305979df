"""Writes each board's bill of materials (`<board>/bom.csv`) from the parts in its pin map, so the
BOM can never list a part the netlist lacks, or miss one.

    python -m hardware.schematics.bom           # rewrite every bom.csv
    python -m hardware.schematics.bom --check   # exit 1 if a committed BOM is stale

One row per distinct part (same part, value, footprint, part number, fitted or optional); the
quantity is the number of references. Optional parts (the SIM800L on a Wi-Fi-only button) are
marked so a buyer can leave them out.
"""
from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python hardware/schematics/x.py): find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hardware.schematics import BOARDS, SCHEMATICS, board_file
from hardware.schematics.boardmap import Board, load_board
from hardware.schematics.golden import write_or_check

COLUMNS = ("part", "value", "footprint", "manufacturer_part_number", "quantity", "references", "fitted")


def _ref_order(ref: str) -> tuple:
    """U2 before U10: prefix, then number."""
    m = re.fullmatch(r"([A-Z]+)(\d+)", ref)
    return (m.group(1), int(m.group(2))) if m else (ref, 0)


def bom_rows(board: Board) -> list[dict]:
    groups: dict[tuple, list[str]] = {}
    for p in board.parts:
        groups.setdefault((p.part, p.value, p.footprint, p.mpn, p.optional), []).append(p.ref)
    rows = []
    for (part, value, footprint, mpn, optional), refs in groups.items():
        refs.sort(key=_ref_order)
        rows.append({"part": part, "value": value, "footprint": footprint, "manufacturer_part_number": mpn,
                     "quantity": len(refs), "references": " ".join(refs),
                     "fitted": "optional" if optional else "yes"})
    rows.sort(key=lambda r: _ref_order(r["references"].split()[0]))
    return rows


def bom_csv(board: Board) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(bom_rows(board))
    return out.getvalue()


def generate() -> dict[Path, str]:
    return {SCHEMATICS / name / "bom.csv": bom_csv(load_board(board_file(name))) for name in BOARDS}


if __name__ == "__main__":
    sys.exit(write_or_check(generate, sys.argv[1:], "bill of materials"))
