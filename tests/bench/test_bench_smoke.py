"""The benchmark harness works: every benchmark module runs in smoke mode, writes its JSON, and the
report renders. (Numbers are recorded by `make bench`, never asserted here.)"""
import json
import os
import subprocess
import sys

import pytest

from simulators.bench.__main__ import modules
from tests.support.paths import REPO


@pytest.mark.parametrize("name", modules())
def test_every_benchmark_runs_in_smoke_mode_and_writes_json(tmp_path, name):
    """One benchmark a test, each bounded in time on its own (together they outgrow any one bound)."""
    env = dict(os.environ, SIAGA_BENCH_DIR=str(tmp_path / "results"))
    p = subprocess.run([sys.executable, "-m", "simulators.bench", "--smoke", "--only", name], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    doc = json.loads((tmp_path / "results" / f"{name}.json").read_text())
    assert doc["smoke"] is True and doc["benchmark"] == name
    check = CHECKS.get(name)
    if check:
        check(doc)


def test_the_harness_knows_every_benchmark_module():
    names = modules()
    assert {"codecs", "adapters", "ingest", "server", "firmware"} <= set(names), names


def _codecs(codecs):
    for op in codecs["ops"].values():
        assert op["cpython_ops_s"] > 0 and op["micropython_ops_s"] > 0


def _adapters(adapters):
    g = adapters["gt06"]
    assert g["held"] == g["attempted"] and g["heartbeat_and_position_answered"] == g["held"]
    assert g["streamed_positions_acked"] > 0 and g["sos_to_committed_ack_ms"]["n"] == g["sos_sent"]
    assert all(v and v > 0 for v in adapters["positions_s"].values()), adapters["positions_s"]


CHECKS = {"codecs": _codecs, "adapters": _adapters}   # figures a smoke run must still have produced
