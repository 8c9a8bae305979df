"""The console's router on its own, over real HTTP (uvicorn on a loopback port): what it serves,
what it refuses and why, and the presentation settings."""
from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from fleet_server.api import refusals
from fleet_server.broker.mosquitto import free_port
from fleet_server.console import vendor
from fleet_server.console.areas import DEFAULT_AREAS, area_collection
from fleet_server.console.router import router
from fleet_server.settings import Console, Settings
from fleet_server.domain.jurisdiction import Jurisdiction


@pytest.fixture
def console_only():
    """Only the console router, served by uvicorn in a thread; always shut down."""
    app = FastAPI()
    app.include_router(router)
    refusals.install(app)
    app.state.settings = Settings(console={"amber_after_s": 30, "red_after_s": 90,
                                           "tile_url": "http://127.0.0.1:1/{z}/{x}/{y}.png"})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def test_given_the_router_when_the_page_and_modules_are_fetched_then_they_are_served_without_caching(console_only):
    page = httpx.get(console_only + "/console/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-cache"
    assert 'type="module" src="/console/static/js/app.js"' in page.text
    js = httpx.get(console_only + "/console/static/js/app.js", timeout=5)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(console_only + "/console", follow_redirects=False, timeout=5).headers["location"] == "/console/"


@pytest.mark.parametrize("path", ["/console/static/..%2frouter.py", "/console/static/%2e%2e/settings.py",
                                  "/console/static/vendor/.gitignore", "/console/static/js/nothing.js"])
def test_given_a_path_outside_the_static_files_when_fetched_then_it_is_refused_with_a_reason(console_only, path):
    r = httpx.get(console_only + path, timeout=5)
    assert r.status_code == 404
    assert r.json()["code"] in ("not_found", "not_vendored")
    assert r.json()["reason"].startswith(("no console file", "vendor/"))


def test_given_console_settings_when_the_page_asks_then_it_gets_thresholds_promise_and_tile_url(console_only):
    cfg = httpx.get(console_only + "/console/api/config", timeout=5).json()
    assert (cfg["amber_after_s"], cfg["red_after_s"], cfg["promise_s"]) == (30, 90, 300)
    assert cfg["tile_url"].startswith("http://127.0.0.1:1/")
    assert cfg["leaflet"] == vendor.LEAFLET_VERSION
    assert cfg["day_utc_offset_h"] == 7


def test_given_amber_not_below_red_when_settings_load_then_they_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match=r"amber_after_s \(300\) must be below red_after_s \(200\)"):
        Console(amber_after_s=300, red_after_s=200)


def test_given_the_bandung_areas_when_the_map_asks_then_every_station_area_and_the_city_outline_come_back(console_only):
    got = httpx.get(console_only + "/console/api/areas", timeout=5).json()
    j = Jurisdiction.load(DEFAULT_AREAS)
    ids = {f["id"] for f in got["features"] if not f["properties"].get("site")}
    assert ids == {a["id"] for a in j.areas()}
    sites = {f["id"] for f in got["features"] if f["properties"].get("site")}
    assert "kota-bandung" in sites
    assert {f["properties"]["agency"] for f in got["features"] if not f["properties"].get("site")} == \
        {"police", "fire", "medical", "sar", "disaster"}


def test_given_a_broken_area_file_when_the_map_asks_then_it_gets_an_empty_map_and_the_reason_is_logged(tmp_path, caplog):
    (tmp_path / "police.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]}))
    with caplog.at_level(logging.ERROR, logger="siaga.console"):
        got = area_collection(path=tmp_path)
    assert got == {"type": "FeatureCollection", "features": []}
    assert "station areas not loaded" in caplog.text and "not a Feature with properties" in caplog.text


def test_given_a_vendor_dir_when_files_are_missing_or_of_another_version_then_it_is_not_vendored(tmp_path):
    assert not vendor.is_vendored(tmp_path)
    out = vendor.leaflet_dir(tmp_path)
    for name in vendor.LEAFLET_FILES:
        (out / name.removeprefix("dist/")).parent.mkdir(parents=True, exist_ok=True)
        (out / name.removeprefix("dist/")).write_bytes(b"x")
    (out / "VERSION").write_text("1.9.3\n")
    assert not vendor.is_vendored(tmp_path)
    (out / "VERSION").write_text(vendor.LEAFLET_VERSION + "\n")
    assert vendor.is_vendored(tmp_path)
    # The checkout's own vendor step ran (make setup): the console has its map.
    assert vendor.is_vendored(), "run `python -m fleet_server.console.vendor`"
