"""Render bench/results/*.json into one page: bench/report/README.md with PNG plots.

Plots come from a result's own `plots` list: [{"title", "kind": "line"|"bar", "series": [{"name",
"x", "y", "xlabel", "ylabel"}]}]. A result without one gets plots derived here from the keys it is
known to record (throughput, memory per device, firmware memory) and from every percentile dict
(p50/p99/max) it holds, so each benchmark's numbers are drawn without the benchmark knowing about
matplotlib. Every other number is tabulated as it was recorded; a list of records (e.g. one per
load level) becomes its own table."""
from __future__ import annotations

import json
import re
from pathlib import Path

from simulators.bench.results import RESULTS

# Beside the results it renders: a run with SIAGA_BENCH_DIR elsewhere (the smoke test's temp dir)
# must not overwrite the repository's report with smoke numbers.
REPORT = RESULTS.parent / "report"
_MS = re.compile(r"(^|[._])ms([._]|$)")


def _flatten(prefix: str, obj, out: list[tuple[str, object]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("series", "machine", "plots"):
                continue
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(obj, list) and obj and isinstance(obj[0], (dict, list)):
        return
    else:
        out.append((prefix, obj))


def _records(doc: dict) -> list[tuple[str, list[dict]]]:
    """Top-level lists of records (one dict per load level, per run...), drawn as tables."""
    return [(k, v) for k, v in doc.items()
            if k != "plots" and isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]


def _record_table(name: str, rows: list[dict]) -> list[str]:
    flat = []
    for row in rows:
        cells: list[tuple[str, object]] = []
        _flatten("", row, cells)
        flat.append(dict(cells))
    cols = list(dict.fromkeys(k for row in flat for k in row))
    out = [f"### {name}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(row.get(c, "")) for c in cols) + " |" for row in flat]
    return out + [""]


# ---- plots derived from known keys ------------------------------------------------------------
def _get(doc: dict, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _bars(title: str, ylabel: str, named: list[tuple[str, str]], doc: dict) -> dict | None:
    """A one-series bar chart of the values at `named` paths that the result holds."""
    pairs = [(label, _get(doc, path)) for label, path in named]
    pairs = [(label, v) for label, v in pairs if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not pairs:
        return None
    return {"title": title, "kind": "bar", "series": [{"name": "", "x": [p[0] for p in pairs],
                                                       "y": [p[1] for p in pairs], "xlabel": "", "ylabel": ylabel}]}


KNOWN = {
    "ingest": [("position ingest throughput (best round)", "msgs/s",
                [("mosquitto_sub", "mosquitto_sub.msgs_s"), ("bare paho", "bare_paho.msgs_s"),
                 ("our ingest", "ingest.msgs_s")])],
    "fleet": [("memory per connected device", "KB RSS per device",
               [("simulator (per device)", "sim_rss_kb_per_device"),
                ("broker (per connection)", "broker_rss_kb_per_connection")])],
    "firmware": [("firmware memory (KB)", "KB",
                  [("heap data peak", "heap.data_peak_kb"), ("heap target", "heap.target_kb"),
                   ("frozen code", "frozen_code.total_kb"), ("code target", "frozen_code.target_kb")])],
    "server": [("sustained alarm ingest", "alarms/s",
                [("sqlite", "results.sqlite.sustained.alarms_per_s"),
                 ("postgresql", "results.postgresql.sustained.alarms_per_s")])],
    "workers": [("sustained alarm ingest by workers on one broker", "alarms/s",
                 [(f"{n} worker{'s' * (n > 1)}", f"topologies.{n}.alarm_ingest.alarms_per_s") for n in (1, 2, 3)]),
                ("sustained position ingest by workers on one broker", "positions/s",
                 [(f"{n} worker{'s' * (n > 1)}", f"topologies.{n}.position_ingest.positions_per_s")
                  for n in (1, 2, 3)]),
                ("lease takeover after SIGKILL of the holder", "s",
                 [(f"{n} workers", f"topologies.{n}.storm_with_worker_kill.lease_takeover_max_s") for n in (2, 3)])],
    "server_drain": [("sustained alarm ingest (drain only)", "alarms/s",
                      [("sqlite", "results.sqlite.sustained.alarms_per_s"),
                       ("postgresql", "results.postgresql.sustained.alarms_per_s")])],
}


def _percentile_dicts(prefix: str, obj, out: list[tuple[str, dict]]) -> None:
    if isinstance(obj, dict):
        if "p50" in obj and "max" in obj:
            out.append((prefix, obj))
            return
        for k, v in obj.items():
            if k not in ("machine", "plots"):
                _percentile_dicts(f"{prefix}.{k}" if prefix else k, v, out)


def _unit(path: str, doc: dict) -> str:
    return "ms" if _MS.search(path) else str(doc.get("unit") or "value")


def derived_plots(doc: dict) -> list[dict]:
    """Plots for a result that brings none: its known throughput/memory keys, then its latency
    percentiles (one grouped bar chart per unit, p50/p99/max side by side per measure)."""
    plots = [p for title, ylabel, named in KNOWN.get(doc.get("benchmark", ""), [])
             if (p := _bars(title, ylabel, named, doc))]
    found: list[tuple[str, dict]] = []
    _percentile_dicts("", doc, found)
    by_unit: dict[str, list[tuple[str, dict]]] = {}
    for path, pct in found:
        by_unit.setdefault(_unit(path, doc), []).append((path, pct))
    for unit, items in by_unit.items():
        series = [{"name": p, "x": [path for path, _ in items], "y": [pct.get(p) for _, pct in items],
                   "xlabel": "", "ylabel": unit} for p in ("p50", "p99", "max")
                  if all(isinstance(pct.get(p), (int, float)) for _, pct in items)]
        if series:
            plots.append({"title": f"{doc.get('benchmark', '')} latency percentiles", "kind": "bar",
                          "log": True, "series": series})
    return plots


def _plot(group: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = group["series"]
    bar = group.get("kind") == "bar"
    cats = list(dict.fromkeys(x for s in series for x in s["x"])) if bar else []
    fig, ax = plt.subplots(figsize=(6.4, 3.6 if not bar else 3.6 + 0.15 * max(0, len(cats) - 4)), dpi=100)
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        if bar:
            xs = [cats.index(x) + (i - (len(series) - 1) / 2) * width for x in s["x"]]
            ax.bar(xs, s["y"], width=width, label=s.get("name", ""))
        else:
            ax.plot(s["x"], s["y"], marker="o", label=s.get("name", ""))
    if bar:
        ax.set_xticks(range(len(cats)), cats, rotation=20 if len(cats) > 3 else 0, ha="right" if len(cats) > 3 else "center",
                      fontsize=8)
    if group.get("log"):
        ax.set_yscale("log")
    ax.set_xlabel(series[0].get("xlabel", ""))
    ax.set_ylabel(series[0].get("ylabel", ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if any(s.get("name") for s in series):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render() -> Path:
    REPORT.mkdir(parents=True, exist_ok=True)
    for old in REPORT.glob("*.png"):
        old.unlink()  # a plot whose benchmark is gone must not linger in the report
    lines = ["# Siaga 112 benchmark report", ""]
    files = sorted(RESULTS.glob("*.json")) if RESULTS.is_dir() else []
    if not files:
        lines.append("No results yet: run `make bench`.")
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except ValueError as e:  # one unreadable result must not hide the others
            lines += [f"## {f.stem}", "", f"unreadable result file: {e}", ""]
            continue
        name = doc.get("benchmark", f.stem)
        lines += [f"## {name}", "", f"{doc.get('when', '')}{' (smoke run)' if doc.get('smoke') else ''}, "
                  f"{doc.get('machine', {}).get('cpus', '?')} CPUs", ""]
        rows: list[tuple[str, object]] = []
        _flatten("", {k: v for k, v in doc.items() if k not in ("benchmark", "when", "smoke")}, rows)
        lines += ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
        for key, records in _records(doc):
            lines += _record_table(key, records)
        for i, group in enumerate(doc.get("plots") or derived_plots(doc)):
            png = REPORT / f"{name}-{i}.png"
            _plot(group, png, group.get("title", name))
            lines += [f"![{group.get('title', name)}]({png.name})", ""]
    out = REPORT / "README.md"
    out.write_text("\n".join(lines) + "\n")
    return out
