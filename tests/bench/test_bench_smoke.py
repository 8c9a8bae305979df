"""The benchmark harness works: every benchmark module runs in smoke mode, writes its JSON, and the
report renders. (Numbers are recorded by `make bench`, never asserted here.)"""
import json
import os
import subprocess
import sys

from simulators.bench.__main__ import modules
from tests.support.paths import REPO


def test_every_benchmark_runs_in_smoke_mode_and_writes_json(tmp_path):
    env = dict(os.environ, SIAGA_BENCH_DIR=str(tmp_path / "results"))
    p = subprocess.run([sys.executable, "-m", "simulators.bench", "--smoke"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    names = modules()
    assert "codecs" in names
    for name in names:
        doc = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert doc["smoke"] is True and doc["benchmark"] == name
    codecs = json.loads((tmp_path / "results" / "codecs.json").read_text())
    for op in codecs["ops"].values():
        assert op["cpython_ops_s"] > 0 and op["micropython_ops_s"] > 0
