"""Unit cases of the firmware's pure parts (key state machine, outbox, MQTT packets), run by the
real MicroPython binary: each case_* in tests/firmware/mpy_cases/ is one test."""
import ast
from pathlib import Path

import pytest

from tests.support.mpy import run_code

CASES = Path(__file__).parent / "mpy_cases"


def _cases():
    for module in sorted(CASES.glob("*_cases.py")):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("case_"):
                yield pytest.param(module.stem, node.name, id=f"{module.stem}.{node.name}")


@pytest.mark.parametrize("module,case", list(_cases()))
def test_case_passes_under_micropython(module, case, tmp_path):
    flash = tmp_path / "flash"
    code = f"import tests.firmware.mpy_cases.{module} as m\nm.{case}()\nprint('CASE-PASSED')"
    done = run_code(code, timeout=30, env={"SIAGA_TEST_FLASH": str(flash)})
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0 and "CASE-PASSED" in out, out


def test_every_feedback_pattern_is_documented_for_the_technician():
    from firmware.app.feedback import PATTERNS
    doc = (Path(__file__).resolve().parents[2] / "docs" / "firmware.md").read_text()
    missing = [name for name in PATTERNS if f"| `{name}` |" not in doc]
    assert missing == [], f"patterns missing from docs/firmware.md: {missing}"
