"""The center's release key pair. The private key signs manifests and never leaves the center: it
lives in a directory only its owner can enter (0700), in a file only its owner can read (0600).
The public key (32 bytes, hex in release.pub) is what devices trust."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat, PublicFormat,
                                                          load_pem_private_key)

from fleet_server.i18n import N_, Message
from fleet_server.releases.manifest import ReleaseError
from protocols.release import key_id

PRIVATE = "release.key"
PUBLIC = "release.pub"


def default_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "release-keys"


def create(directory: Path) -> bytes:
    """A new key pair in directory; refuses to replace an existing one (devices trust it)."""
    directory = Path(directory)
    if (directory / PRIVATE).exists():
        raise ReleaseError(Message(N_("{path} exists: devices trust that key; a rotation is a new directory"),
                                   path=directory / PRIVATE))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(directory / PRIVATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub = public_bytes(key)
    (directory / PUBLIC).write_text(pub.hex() + "\n")
    return pub


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_private(directory: Path) -> Ed25519PrivateKey:
    path = Path(directory) / PRIVATE
    if not path.is_file():
        raise ReleaseError(Message(N_("no release key at {path}: create one with `siaga firmware keys`"), path=path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 or Path(directory).stat().st_mode & 0o077:
        raise ReleaseError(Message(N_("{path} is readable by others (mode {mode}): the key must be 0600 in a 0700 "
                                      "directory"), path=path, mode=f"{mode:o}"))
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(Message(N_("{path} is not an Ed25519 key"), path=path))
    return key


def load_public(directory: Path) -> bytes:
    path = Path(directory) / PUBLIC
    if not path.is_file():
        raise ReleaseError(Message(N_("no release public key at {path}"), path=path))
    try:
        pub = bytes.fromhex(path.read_text().strip())
    except ValueError:
        pub = b""
    if len(pub) != 32:
        raise ReleaseError(Message(N_("{path} does not hold a 32-byte public key in hex"), path=path))
    return pub


def fingerprint(pub: bytes) -> str:
    return key_id(pub)
