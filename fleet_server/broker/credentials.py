"""Mosquitto 2.x password hashes ($7$: PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt), written
directly so thousands of device accounts need no mosquitto_passwd process each."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ROUNDS = 101


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ROUNDS)
    return f"$7${ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, seven, rounds, salt_b64, digest_b64 = stored.split("$")
        if seven != "7":
            return False
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt_b64), int(rounds))
        return hmac.compare_digest(digest, base64.b64decode(digest_b64))
    except (ValueError, TypeError):
        return False


def new_secret(nbytes: int = 18) -> str:
    return secrets.token_urlsafe(nbytes)
