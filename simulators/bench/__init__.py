"""Benchmarks. Each module writes bench/results/<name>.json; `python -m simulators.bench` runs them
all and renders bench/report/ (Markdown + PNG). Benchmarks record numbers; they never fail a build."""
