"""Station areas for the console map, from the one jurisdiction loader the server routes with
(fleet_server.domain.jurisdiction), so the map shows exactly the polygons incidents are routed by."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from fleet_server.domain.jurisdiction import Jurisdiction, JurisdictionError

log = logging.getLogger("siaga.console")

DEFAULT_AREAS = Path(__file__).resolve().parent.parent / "data" / "bandung"


@lru_cache(maxsize=4)
def _load(path: str) -> Jurisdiction | None:
    try:
        return Jurisdiction.load(path)
    except JurisdictionError as e:
        # A broken area file must not take the console down: the map is drawn without areas.
        log.error("station areas not loaded from %s: %s", path, e)
        return None


def area_collection(jurisdiction: Jurisdiction | None = None, path: Path = DEFAULT_AREAS) -> dict:
    """A GeoJSON FeatureCollection: every station area, then the sites (city outline, command
    center) marked with properties.site = true."""
    j = jurisdiction if jurisdiction is not None else _load(str(path))
    if j is None:
        return {"type": "FeatureCollection", "features": []}
    features = list(j.areas())
    for site in j.sites():
        features.append({"type": "Feature", "id": site.get("id"),
                         "properties": {"id": site.get("id"), "name": site.get("name"),
                                        "level": site.get("level"), "site": True},
                         "geometry": site["geometry"]})
    return {"type": "FeatureCollection", "features": features}
