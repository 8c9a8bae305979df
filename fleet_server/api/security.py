"""Passwords (scrypt, from the standard library) and access tokens (JWT, HS256 via PyJWT)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import jwt

# "station": a user of a station (Polres, Polsek, fire post, hospital) who takes the forwards sent to
# it (fleet_server/domain/forwarding.py); users.station_id says which station.
ROLES = ("viewer", "station", "operator", "dispatcher", "technician", "admin")
_N, _R, _P = 2 ** 14, 8, 1


def role_at_least(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


# Checked when the username is unknown (or disabled), so every refused login costs the same
# scrypt work as a wrong password for a real user: the answer time does not tell who exists.
_NOBODY = hash_password(secrets.token_urlsafe(16))


def check_login(password: str, stored: str | None) -> bool:
    """The password against the user's hash, or against a hash no password matches when there
    is no such user: the same work either way."""
    ok = verify_password(password, stored or _NOBODY)
    return ok and stored is not None


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def issue_token(secret: str, username: str, role: str, ttl_s: int, now: float | None = None,
                user_id: int = 0, generation: int = 0) -> str:
    """uid and gen bind the token to one user row and its token generation (see deps)."""
    now = int(now if now is not None else time.time())
    return jwt.encode({"sub": username, "role": role, "iat": now, "exp": now + ttl_s, "uid": user_id,
                       "gen": generation}, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> dict | None:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "role", "exp"]})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("role") in ROLES else None


def jwt_secret(configured: str, data_dir: Path) -> str:
    """The configured secret, else one generated once into data_dir (so restarts keep tokens valid)."""
    if configured:
        return configured
    path = Path(data_dir) / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret
