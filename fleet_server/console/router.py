"""The console's routes: `/` redirects to `/console/`, the single page and its static ES modules
under `/console/static/`, and two presentation-only JSON endpoints under `/console/api/`.

Include it in the app with `app.include_router(console_router)`. The console's data (incidents,
units, devices, stats, the live feed) comes from the server's own /api/v1 with the operator's
bearer token; this router holds no data and needs no auth."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from fleet_server.api.refusals import HttpRefused
from fleet_server.console.areas import area_collection
from fleet_server.console.vendor import LEAFLET_VERSION, is_vendored
from fleet_server.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
PAGE = STATIC / "index.html"

router = APIRouter(tags=["console"])


def _settings(request: Request) -> Settings:
    # The app carries its own (create_app, tests, the demo); a bare router reads the environment.
    found = getattr(request.app.state, "settings", None)
    return found if isinstance(found, Settings) else Settings()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console", include_in_schema=False)
def console_no_slash() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/", include_in_schema=False)
def page() -> FileResponse:
    # no-cache: a dispatcher's browser must pick up a new console after a deploy.
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/console/static/{path:path}", include_in_schema=False)
def static(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file() or target.name.startswith("."):
        if path.startswith("vendor/") and not is_vendored(STATIC / "vendor"):
            raise HttpRefused(404, "not_vendored", f"{path} is not vendored: run `python -m fleet_server.console.vendor`")
        raise HttpRefused(404, "not_found", f"no console file {path}")
    media = "text/javascript" if target.suffix == ".js" else None
    return FileResponse(target, media_type=media, headers={"Cache-Control": "no-cache"})


@router.get("/console/api/config", summary="Console presentation settings (public)")
def config(request: Request) -> dict:
    settings = _settings(request)
    s = settings.console
    # "Today" on the statistics page is the server's statistics day (WIB by default), not the browser's.
    return {"promise_s": settings.incidents.response_promise_s, "amber_after_s": s.amber_after_s,
            "red_after_s": s.red_after_s, "stale_fix_s": s.stale_fix_s,
            "day_utc_offset_h": settings.incidents.stats_utc_offset_h, "tile_url": s.tile_url,
            "tile_attribution": s.tile_attribution,
            "map_center": list(s.map_center), "map_zoom": s.map_zoom, "sound": s.sound, "language": s.language,
            "leaflet": LEAFLET_VERSION, "leaflet_vendored": is_vendored(STATIC / "vendor")}


@router.get("/console/api/areas", summary="Station areas and city outline as GeoJSON (public)")
def areas(request: Request) -> dict:
    service = getattr(request.app.state, "service", None)
    return area_collection(getattr(service, "jurisdiction", None))
