"""The benchmark report: plots derived from known result keys and percentile groups, a PNG for
every plot group, tables for lists of records, and unreadable results never hiding the others."""
import json
import os
import subprocess
import sys

from simulators.bench import report

from tests.support.paths import REPO


def test_given_an_ingest_result_without_plots_when_deriving_then_a_throughput_bar_chart_is_drawn():
    doc = {"benchmark": "ingest", "mosquitto_sub": {"msgs_s": 40000}, "bare_paho": {"msgs_s": 12000},
           "ingest": {"msgs_s": 6000}}
    plots = report.derived_plots(doc)
    assert plots[0]["kind"] == "bar"
    assert plots[0]["series"][0]["x"] == ["mosquitto_sub", "bare paho", "our ingest"]
    assert plots[0]["series"][0]["y"] == [40000, 12000, 6000]


def test_given_percentile_dicts_in_two_units_when_deriving_then_one_chart_per_unit():
    doc = {"benchmark": "x", "unit": "microseconds", "a_ms": {"p50": 1, "p99": 2, "max": 3},
           "inside": {"p50": 10, "p99": 20, "max": 30}}
    plots = report.derived_plots(doc)
    assert sorted(p["series"][0]["ylabel"] for p in plots) == ["microseconds", "ms"]


def test_given_results_dir_when_rendering_then_every_plot_group_has_a_png_and_levels_a_table(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lat = {"benchmark": "latency", "when": "now", "smoke": True, "machine": {"cpus": 2},
           "levels": [{"level_pct": 0, "ack_ms": {"p50": 5.0, "p99": 9.0, "max": 9.0, "n": 3}},
                      {"level_pct": 50, "ack_ms": {"p50": 7.0, "p99": 12.0, "max": 15.0, "n": 3}}],
           "plots": [{"title": "t", "series": [{"name": "p50", "x": [0, 50], "y": [5.0, 7.0],
                                                  "xlabel": "load", "ylabel": "ms"}]}]}
    (results / "latency.json").write_text(json.dumps(lat))
    (results / "fleet.json").write_text(json.dumps({"benchmark": "fleet", "sim_rss_kb_per_device": 26.1,
                                                    "broker_rss_kb_per_connection": 6.9}))
    (results / "broken.json").write_text("{not json")
    code = ("import simulators.bench.report as r, pathlib, sys; r.REPORT = pathlib.Path(sys.argv[1]); "
            "print(r.render())")
    env = dict(os.environ, SIAGA_BENCH_DIR=str(results))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "report")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "report" / "README.md").read_text()
    assert (tmp_path / "report" / "latency-0.png").stat().st_size > 1000
    assert (tmp_path / "report" / "fleet-0.png").stat().st_size > 1000
    assert "### levels" in md and "| level_pct | ack_ms.p50 |" in md
    assert "unreadable result file" in md


def test_given_metrics_text_when_read_then_labelled_counters_are_kept_apart():
    from simulators.bench.latency import read_metrics, drain_rate
    m = read_metrics('# HELP x\nsiaga_ingest_messages_total{type="pos"} 40\nsiaga_ingest_queue 3\n')
    assert m['siaga_ingest_messages_total{type="pos"}'] == 40 and m["siaga_ingest_queue"] == 3
    r = drain_rate([(0.0, 0, 0), (1.0, 100, 5), (2.0, 300, 9), (3.0, 300, 0)], 300)
    assert r["msgs_s"] == 200.0 and r["peak_queue"] == 9
