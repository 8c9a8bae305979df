from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from fleet_server.domain.units import Unit
from fleet_server.storage.db import upgrade

NOW = 1_790_000_000.0
# Gedung Sate, Bandung, in microdegrees
CENTRE = (-6902481, 107618767)


@pytest.fixture
def sqlite_engine(tmp_path):
    """A real SQLite file, migrated to head like the core's store."""
    engine = create_engine(f"sqlite:///{tmp_path / 'units.db'}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def ambulance(n: int = 1, **kw) -> Unit:
    base = dict(id=f"AMB-{n:02d}", callsign=f"Ambulans {n}", agency="medical", type="ambulance",
                home_station="RSHS", home_lat=CENTRE[0], home_lon=CENTRE[1], capabilities=("als",),
                device_id=f"trk-amb-{n:02d}")
    base.update(kw)
    return Unit(**base)


def pos_msg(dev: str, ts: float, lat: int, lon: int, seq: int = 1, **extra) -> dict:
    from protocols import codec_json
    msg = {"v": 1, "t": "pos", "dev": dev, "boot": 1, "seq": seq, "ts": int(ts), "lat": lat, "lon": lon}
    msg.update(extra)
    out = codec_json.decode(codec_json.encode(msg))
    assert isinstance(out, dict), out
    return out


def crew_msg(dev: str, ts: float, crew: str, seq: int = 1) -> dict:
    from protocols import codec_json
    out = codec_json.decode(codec_json.encode({"v": 1, "t": "crew", "dev": dev, "boot": 1, "seq": seq,
                                               "ts": int(ts), "crew": crew}))
    assert isinstance(out, dict), out
    return out
