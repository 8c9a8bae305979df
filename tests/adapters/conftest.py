"""The shared third-party captures the adapter tests read in place."""
from __future__ import annotations

import json

import pytest

from tests.support.paths import shared_path


@pytest.fixture(scope="session")
def traccar_frames(shared_data) -> dict:
    path = shared_path("traccar", "traccar_gt06_osmand_frames.json")
    data = json.loads(path.read_text())
    assert len(data["gt06"]) == 187 and len(data["osmand"]) == 15, "the Traccar capture file changed"
    return data


@pytest.fixture(scope="session")
def owntracks_dir(shared_data):
    return shared_path("owntracks", "OWNTRACKS_EXPECTED.json").parent
