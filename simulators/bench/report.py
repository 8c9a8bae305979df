"""Render bench/results/*.json into one page: bench/report/README.md with PNG plots. Plots are
drawn for any result that carries a `series` list ({"name", "x", "y", "xlabel", "ylabel"}); every
other number is tabulated as it was recorded."""
from __future__ import annotations

import json
from pathlib import Path

from simulators.bench.results import REPO, RESULTS

REPORT = REPO / "bench" / "report"


def _flatten(prefix: str, obj, out: list[tuple[str, object]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("series", "machine"):
                continue
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(obj, list) and obj and isinstance(obj[0], (dict, list)):
        return
    else:
        out.append((prefix, obj))


def _plot(series: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for s in series:
        ax.plot(s["x"], s["y"], marker="o", label=s.get("name", ""))
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
    lines = ["# Siaga 112 benchmark report", ""]
    files = sorted(RESULTS.glob("*.json")) if RESULTS.is_dir() else []
    if not files:
        lines.append("No results yet: run `make bench`.")
    for f in files:
        doc = json.loads(f.read_text())
        name = doc.get("benchmark", f.stem)
        lines += [f"## {name}", "", f"{doc.get('when', '')}{' (smoke run)' if doc.get('smoke') else ''}, "
                  f"{doc.get('machine', {}).get('cpus', '?')} CPUs", ""]
        rows: list[tuple[str, object]] = []
        _flatten("", {k: v for k, v in doc.items() if k not in ("benchmark", "when", "smoke")}, rows)
        lines += ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
        for i, group in enumerate(doc.get("plots", [])):
            png = REPORT / f"{name}-{i}.png"
            _plot(group["series"], png, group.get("title", name))
            lines += [f"![{group.get('title', name)}]({png.name})", ""]
    out = REPORT / "README.md"
    out.write_text("\n".join(lines) + "\n")
    return out
