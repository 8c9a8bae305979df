"""Login throttling and lockout over real HTTP: a username is locked after the configured wrong
passwords in a row (a known one and an unknown one alike, with the same answers, so the lock tells
nobody who exists), the right password is refused while locked, one address is throttled across
usernames, and every refused login costs the same password hashing (the code path, not a clock)."""
import hashlib

import httpx
import pytest

from fleet_server.api import security
from fleet_server.api.throttle import LoginGuard
from tests.web.conftest import PASSWORDS, start_web_server

LOCK_AFTER = 4


@pytest.fixture
def guarded(tmp_path):
    srv = start_web_server(tmp_path / "srv", env={"SIAGA_AUTH__LOCKOUT_FAILURES": str(LOCK_AFTER),
                                                  "SIAGA_AUTH__THROTTLE_FAILURES": "12"})
    try:
        yield srv
    finally:
        srv.stop()


def _login(srv, username, password):
    return httpx.post(srv.base_url + "/api/v1/auth/token", data={"username": username, "password": password},
                      timeout=10)


def _answer(r):
    return r.status_code, r.json(), r.headers.get("www-authenticate"), r.headers.get("retry-after") is not None


def test_given_wrong_passwords_then_a_known_and_an_unknown_user_get_the_same_answers_and_both_lock(guarded):
    srv = guarded
    known = [_answer(_login(srv, "operator", "wrong-password")) for _ in range(LOCK_AFTER)]
    unknown = [_answer(_login(srv, "no-such-user", "wrong-password")) for _ in range(LOCK_AFTER)]
    assert known == unknown == [(401, {"code": "wrong_credentials", "reason": "wrong username or password"},
                                 "Bearer", False)] * LOCK_AFTER
    locked_known, locked_unknown = _login(srv, "operator", PASSWORDS["operator"]), _login(srv, "no-such-user", "x" * 9)
    assert _answer(locked_known) == _answer(locked_unknown)
    assert locked_known.status_code == 429 and locked_known.json()["code"] == "too_many_attempts"
    assert 1 <= int(locked_known.headers["retry-after"]) <= 300
    # Another user is not locked by it, and a user disabled answers exactly like a wrong password.
    assert _login(srv, "dispatcher", PASSWORDS["dispatcher"]).status_code == 200
    assert srv.api("PATCH", "/users/viewer", json={"active": False}).status_code == 200
    assert _answer(_login(srv, "viewer", PASSWORDS["viewer"])) == known[0]
    metrics = httpx.get(srv.base_url + "/metrics", timeout=10).text
    assert f'siaga_login_refused_total{{reason="wrong_credentials"}} {2 * LOCK_AFTER + 1}.0' in metrics
    assert 'siaga_login_refused_total{reason="locked"} 2.0' in metrics


def test_given_one_address_spraying_usernames_then_it_is_throttled_and_a_success_clears_a_name(guarded):
    srv = guarded
    assert _login(srv, "operator", "wrong").status_code == 401
    assert _login(srv, "operator", PASSWORDS["operator"]).status_code == 200   # clears operator's count
    for i in range(11):
        assert _login(srv, f"spray{i}", "wrong-password").status_code == 401
    r = _login(srv, "technician", PASSWORDS["technician"])
    assert r.status_code == 429 and r.json()["code"] == "too_many_attempts", "12 failures from this address"
    assert "throttled" in httpx.get(srv.base_url + "/metrics", timeout=10).text


def test_given_a_locked_name_when_the_lock_expires_then_the_right_password_works_again():
    now = [1000.0]
    guard = LoginGuard(lockout_failures=3, lockout_s=60, throttle_failures=100, throttle_window_s=60,
                       clock=lambda: now[0])
    for _ in range(3):
        assert guard.refused_for("Budi", "10.0.0.1") is None
        guard.failed("Budi", "10.0.0.1")
    assert guard.refused_for("budi ", "10.0.0.2")[0] == "locked", "names compare without case or spaces"
    now[0] += 61
    assert guard.refused_for("budi", "10.0.0.1") is None


def test_given_an_unknown_user_then_the_login_does_the_same_scrypt_work_as_for_a_known_one(monkeypatch):
    calls = []
    real = hashlib.scrypt

    def counting(password, **kw):
        calls.append((kw["n"], kw["r"], kw["p"], kw["dklen"]))
        return real(password, **kw)

    stored = security.hash_password("right-password")
    monkeypatch.setattr(security.hashlib, "scrypt", counting)
    assert security.check_login("right-password", stored) is True
    assert security.check_login("wrong-password", stored) is False
    assert security.check_login("any-password", None) is False
    assert len(calls) == 3 and len(set(calls)) == 1, calls
