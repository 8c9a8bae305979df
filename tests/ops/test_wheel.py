"""The wheel a city installs: built from a clean copy of the tracked sources (plus the vendored
Leaflet, which `python -m fleet_server.console.vendor` puts in the checkout at build time), with the
build backend the project pins (so `license = "MIT"` builds), installed into a fresh venv with no
index and no dependencies (those come from the project's venv through a .pth, never its source),
and run from a working directory of its own: it must carry the console, the station areas, the
migrations and the protocol vectors, serve /console, and keep its state in ./run, not in
site-packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from fleet_server.broker.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "fleet_server" / "console" / "static" / "vendor"


def _run(argv, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)
    assert r.returncode == 0, f"{argv}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    assert (VENDOR / "leaflet" / "leaflet.js").is_file(), \
        f"{VENDOR} is missing: run `python -m fleet_server.console.vendor` (make setup does)"
    src = tmp_path_factory.mktemp("src")
    tracked = _run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for rel in filter(None, tracked):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    shutil.copytree(VENDOR, src / VENDOR.relative_to(REPO), dirs_exist_ok=True)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(dist)], timeout=600)
    [whl] = dist.glob("siaga112-*.whl")
    return whl


def test_the_wheel_carries_the_console_station_areas_migrations_and_vectors(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _run(["git", "ls-files"], cwd=REPO).stdout.split()
    must = [p for p in tracked if p.startswith(("fleet_server/console/static/", "fleet_server/data/",
                                                "fleet_server/storage/migrations/", "protocols/vectors/",
                                                "fleet_server/locale/"))
            and p.endswith((".js", ".css", ".html", ".geojson", ".yaml", ".py", ".mako", ".json", ".png", ".svg", ".po"))]
    assert any(p.startswith("fleet_server/storage/migrations/versions/") for p in must)
    assert any(p.endswith(".geojson") for p in must)
    assert any(p.startswith("fleet_server/data/sop/") for p in must)   # the run cards the server loads at start
    # The languages: the console's catalogue and the siaga command's gettext sources (docs/i18n.md).
    assert {"fleet_server/console/static/i18n/id.json", "fleet_server/locale/id/LC_MESSAGES/siaga.po",
            "fleet_server/locale/en/LC_MESSAGES/siaga.po"} <= set(must)
    assert sorted(set(must) - names) == []
    assert {"fleet_server/console/static/vendor/leaflet/leaflet.js",
            "fleet_server/console/static/vendor/leaflet/leaflet.css"} <= names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in text
    entry = zipfile.ZipFile(wheel).read(meta.replace("METADATA", "entry_points.txt")).decode()
    assert "siaga = fleet_server.cli:app" in entry


def test_given_the_installed_wheel_then_siaga_serve_serves_the_console_with_state_in_run(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The dependencies from the project's venv: a plain path, so its editable finder never loads.
    (site / "siaga-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)])
    work = tmp_path / "center"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "SIAGA_CONFIG": str(work / "none.toml"),
           "SIAGA_RUN_INGEST": "false", "SIAGA_ADMIN_BOOTSTRAP": "admin:admin-secret-1",
           "SIAGA_JWT_SECRET": "wheel-test-jwt-secret-with-32-bytes!!"}
    where = _run([str(py), "-c", "import fleet_server; print(fleet_server.__file__)"], cwd=work, env=env).stdout
    assert where.strip().startswith(str(site)), where
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "siaga"), "serve", "--port", str(port)], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        page = httpx.get(base + "/console/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        leaflet = httpx.get(base + "/console/static/vendor/leaflet/leaflet.js", timeout=10)
        assert leaflet.status_code == 200 and "Leaflet" in leaflet.text[:2000]
        areas = httpx.get(base + "/console/api/areas", timeout=10)
        assert areas.status_code == 200 and areas.json()["features"], areas.text[:500]
        token = httpx.post(base + "/api/v1/auth/token", data={"username": "admin", "password": "admin-secret-1"},
                           timeout=10)
        assert token.status_code == 200, token.text   # the schema came from the wheel's migrations
    finally:
        if proc.poll() is None:      # a server that failed at start has already gone
            os.killpg(proc.pid, 15)
        proc.wait(15)
        log.close()
    assert (work / "run" / "siaga.db").is_file()
    assert not (site / "run").exists()
    assert oct((work / "run").stat().st_mode & 0o777) == "0o700"
