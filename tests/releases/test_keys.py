"""The release key: created private (0600 in 0700), never replaced, refused when others can read
it, and the public half is what signatures verify under."""
import os
import stat

import pytest

from fleet_server.releases import keys
from fleet_server.releases.manifest import ReleaseError
from protocols import ed25519


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_given_a_new_key_then_the_private_file_is_0600_in_a_0700_directory_and_signs_for_the_public_key(tmp_path):
    d = tmp_path / "keys"
    pub = keys.create(d)
    assert _mode(d) == 0o700
    assert _mode(d / keys.PRIVATE) == 0o600
    assert keys.load_public(d) == pub
    key = keys.load_private(d)
    assert ed25519.check(pub, b"manifest", key.sign(b"manifest")) is None
    assert len(keys.fingerprint(pub)) == 16


def test_given_an_existing_key_then_creating_again_refuses_and_keeps_it(tmp_path):
    d = tmp_path / "keys"
    pub = keys.create(d)
    with pytest.raises(ReleaseError, match="devices trust that key"):
        keys.create(d)
    assert keys.load_public(d) == pub


def test_given_a_private_key_others_can_read_then_it_is_not_used(tmp_path):
    d = tmp_path / "keys"
    keys.create(d)
    os.chmod(d / keys.PRIVATE, 0o644)
    with pytest.raises(ReleaseError, match="readable by others"):
        keys.load_private(d)


def test_given_no_key_then_the_reason_names_the_command(tmp_path):
    with pytest.raises(ReleaseError, match="siaga firmware keys"):
        keys.load_private(tmp_path)
