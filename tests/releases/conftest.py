"""A release key and a button release built from the repository's firmware (mpy-cross and all),
once per test module: building costs a few seconds of mpy-cross."""
from __future__ import annotations

import pytest

from fleet_server.releases import bundle, keys


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("center") / "release-keys"
    keys.create(d)
    return d


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    return tmp_path_factory.mktemp("releases")


@pytest.fixture(scope="module")
def button_release(key_dir, releases):
    """Release 1.2.0 of the button for both real boards and the unix binary, from 1.0.0 up."""
    return bundle.build("1.2.0", "button", ["esp32_button", "picow_button", "sim"], "1.0.0", key_dir, releases,
                        created=1_796_000_000)
