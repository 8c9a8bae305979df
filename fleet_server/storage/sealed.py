"""A column whose values are sealed (AES-256-GCM) with a key kept outside the database: the SMS
signing keys. A copy of the database (a backup, a stolen disk image, a SQL injection) then holds
no key an attacker could forge an SOS with. The key is the engine's (`Database(seal_key=...)`,
from fleet_server.sms.keys); without it a sealed value can be neither written nor read.

Stored form: "s1:" + unpadded base64url(nonce(12) | ciphertext | tag(16)) of the key's bytes (the
API takes them as hex), the column's purpose as associated data: a 64-byte key seals to 126
characters, so the column keeps its width and no table is rewritten. A value without the prefix is
a clear one from before sealing; it is read as is and sealed at the server's start
(fleet_server.sms.keys.seal_stored)."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

PREFIX = "s1:"
KEY_ATTR = "siaga_seal_key"
KEY_FILE = "sms_seal.key"   # under <data_dir>/secrets/ unless configured (settings.sms.key_file)


class SealError(RuntimeError):
    """A sealed value without its key, or one the key does not open."""


def load_or_create(path: Path) -> bytes:
    """The sealing key at `path` (32 random bytes, 0600 in a 0700 directory), made once when missing.
    A file of another size is an error: a truncated key would seal with a key nobody has."""
    from fleet_server.secrets_files import private_dir, tighten
    path = Path(path)
    if path.exists():
        tighten(path)
        key = path.read_bytes()
        if len(key) != 32:
            raise SealError(f"{path} holds {len(key)} bytes, not a 32-byte sealing key")
        return key
    private_dir(path.parent)
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:   # another process made it first: use theirs
        return load_or_create(path)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def set_key(engine, key: bytes | None) -> None:
    if key is not None and len(key) != 32:
        raise SealError(f"the sealing key must be 32 bytes, not {len(key)}")
    setattr(engine.dialect, KEY_ATTR, key)


def is_sealed(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(PREFIX)


class SealedHex(TypeDecorator):
    """A hex string (a key), sealed at rest; read back as lower-case hex."""
    impl = String(128)
    cache_ok = True

    def __init__(self, purpose: str, length: int = 128):
        super().__init__(length)
        self.purpose = purpose.encode()

    def _key(self, dialect) -> bytes:
        key = getattr(dialect, KEY_ATTR, None)
        if key is None:
            raise SealError(f"no sealing key for {self.purpose.decode()}: the database keeps it only sealed "
                            "(start the server with its key file, see docs/deploy.md 'Secrets at rest')")
        return key

    def process_bind_param(self, value, dialect):
        if value is None or is_sealed(value):
            return value
        try:
            clear = bytes.fromhex(value)
        except ValueError:
            raise SealError(f"{self.purpose.decode()} is not hex") from None
        nonce = os.urandom(12)
        sealed = AESGCM(self._key(dialect)).encrypt(nonce, clear, self.purpose)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def process_result_value(self, value, dialect):
        if not is_sealed(value):
            return value
        body = value[len(PREFIX):]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return AESGCM(self._key(dialect)).decrypt(raw[:12], raw[12:], self.purpose).hex()
        except InvalidTag:
            raise SealError(f"a sealed {self.purpose.decode()} does not open with this key (another server's "
                            "key file?)") from None
