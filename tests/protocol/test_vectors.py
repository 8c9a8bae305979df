"""Golden vectors: the same files drive CPython and the real MicroPython binary, and both must
give exactly the expected result for every vector."""
import json
import subprocess
import sys

import pytest

from protocols.rejection import CODES
from tests.support.mpy import run_script
from tests.support.paths import REPO

VECTORS = REPO / "protocols" / "vectors"


def _lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, _, result = line.partition("\t")
        out[name] = result
    return out


@pytest.fixture(scope="module")
def cpython_results():
    p = subprocess.run([sys.executable, "-m", "protocols.vectors.runner", str(VECTORS)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return _lines(p.stdout)


@pytest.fixture(scope="module")
def micropython_results():
    p = run_script(VECTORS / "runner.py", str(VECTORS))
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    return _lines(out)


def test_vector_set_is_large_and_covers_the_rejections_that_matter():
    vectors = [v for f in ("json", "sms", "hmac") for v in json.loads((VECTORS / f"{f}.json").read_text())["vectors"]]
    invalid = [v for v in vectors if "reject" in v.get("expect", {})]
    assert len(vectors) >= 40 and len(invalid) >= 15
    codes = {v["expect"]["reject"] for v in invalid}
    for must in ("truncated", "wrong_type", "out_of_range", "unknown_version", "oversize", "bad_hmac",
                 "replayed", "identity_mismatch"):
        assert must in codes, must
    assert codes <= set(CODES)


def test_every_vector_passes_on_cpython(cpython_results):
    assert cpython_results["mismatches"] == "0"
    assert not [k for k in cpython_results if k == "MISMATCH"]


def test_every_vector_passes_on_micropython(micropython_results):
    assert micropython_results["mismatches"] == "0"


def test_both_runtimes_agree_on_every_vector(cpython_results, micropython_results):
    assert len(cpython_results) >= 66
    assert cpython_results == micropython_results


def test_rfc4231_cases_1_to_4_on_both_runtimes(cpython_results, micropython_results):
    doc = json.loads((VECTORS / "hmac.json").read_text())
    for v in doc["vectors"]:
        assert cpython_results[v["name"]] == "mac " + v["mac"]
        assert micropython_results[v["name"]] == "mac " + v["mac"]


def test_protocol_reference_documents_every_field():
    from protocols.messages import FIELDS
    doc = (REPO / "docs" / "protocol.md").read_text()
    for kind, fields in FIELDS.items():
        assert f"### `{kind}`" in doc, kind
        section = doc.split(f"### `{kind}`")[1].split("###")[0]
        for spec in fields:
            assert f"| `{spec[0]}` |" in section, (kind, spec[0])
