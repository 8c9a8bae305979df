"""The layers as contracts: `lint-imports` (import-linter, the dev extras) checks the
[tool.importlinter] contracts of pyproject.toml on the source tree: protocols import nothing of
ours, the server and the simulators import no firmware, the domain imports no storage, links or
their libraries, firmware ports do not import the app."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_given_the_source_tree_then_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), f"{lint} is missing: install the dev extras (pip install -e '.[dev]')"
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = out.stdout + out.stderr
    if out.returncode != 0:
        pytest.fail(f"lint-imports exited {out.returncode}:\n{report}", pytrace=False)
    assert "0 broken" in report, report  # it ran the contracts, and none is broken
