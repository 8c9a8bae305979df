"""Users can be disabled, re-enabled, deleted and change their password, over real HTTP; every
change is audited, and the tokens a user held stop working at once (a disabled user, a changed
password, a deleted user — even when the name is given to someone else)."""
import httpx

from tests.web.conftest import PASSWORDS


def _me(srv, token) -> int:
    return srv.api("GET", "/auth/me", token=token).status_code


def _feed_refused(srv, token) -> bool:
    from websockets.sync.client import connect
    with connect(srv.base_url.replace("http", "ws") + "/api/v1/feed?token=" + token, open_timeout=10) as ws:
        try:
            ws.recv(timeout=10)
        except Exception as e:   # closed with 1008: policy violation
            return getattr(e, "rcvd", None) is not None and e.rcvd.code == 1008
    return False


def test_given_a_disabled_user_then_their_tokens_and_feed_stop_and_reenabling_needs_a_new_login(web):
    old = web.tokens["operator"]
    assert _me(web, old) == 200
    r = web.api("PATCH", "/users/operator", json={"active": False})
    assert r.status_code == 200 and r.json() == {"username": "operator", "role": "operator", "active": False,
                                                 "station_id": None,
                                                 "language": None}
    assert _me(web, old) == 401
    assert _feed_refused(web, old)
    assert web.api("PATCH", "/users/operator", json={"active": True}).status_code == 200
    assert _me(web, old) == 401, "a token from before the disable stays dead"
    assert _me(web, web.login("operator", PASSWORDS["operator"])) == 200
    audit = web.api("GET", "/audit", params={"entity": "user", "limit": 50}).json()
    actions = [(a["action"], a["entity_id"], a["actor"]) for a in audit]
    assert ("user_disabled", "operator", "admin") in actions and ("user_enabled", "operator", "admin") in actions


def test_given_a_password_change_then_old_tokens_and_the_old_password_stop_working(web):
    old = web.tokens["viewer"]
    r = web.api("POST", "/auth/password", token=old,
                json={"current_password": "not-it-at-all", "new_password": "a-new-password-2"})
    assert r.status_code == 403 and r.json()["code"] == "wrong_password"
    assert _me(web, old) == 200, "a refused change changes nothing"
    r = web.api("POST", "/auth/password", token=old,
                json={"current_password": PASSWORDS["viewer"], "new_password": "a-new-password-2"})
    assert r.status_code == 204, r.text
    assert _me(web, old) == 401
    assert httpx.post(web.base_url + "/api/v1/auth/token", timeout=10,
                      data={"username": "viewer", "password": PASSWORDS["viewer"]}).status_code == 401
    assert _me(web, web.login("viewer", "a-new-password-2")) == 200
    # An admin's reset does the same for someone else's tokens.
    tech = web.tokens["technician"]
    assert web.api("PATCH", "/users/technician", json={"password": "reset-by-admin-3"}).status_code == 200
    assert _me(web, tech) == 401 and _me(web, web.login("technician", "reset-by-admin-3")) == 200
    r = web.api("POST", "/auth/password", json={"current_password": "x", "new_password": "short"})
    assert r.status_code == 422, "at least 8 characters"


def test_given_a_deleted_user_then_their_token_is_dead_even_if_the_name_is_given_again(web):
    old = web.tokens["dispatcher"]
    assert web.api("DELETE", "/users/dispatcher").status_code == 204
    assert _me(web, old) == 401
    assert web.api("DELETE", "/users/dispatcher").status_code == 404
    assert "dispatcher" not in [u["username"] for u in web.api("GET", "/users").json()]
    r = web.api("POST", "/users", json={"username": "dispatcher", "password": PASSWORDS["dispatcher"], "role": "admin"})
    assert r.status_code == 201
    assert _me(web, old) == 401, "the old token does not become the new admin's"
    audit = web.api("GET", "/audit", params={"entity": "user", "entity_id": "dispatcher", "limit": 50}).json()
    assert "user_deleted" in [a["action"] for a in audit]


def test_given_an_admin_then_their_own_account_cannot_be_disabled_demoted_or_deleted_by_themselves(web):
    for method, body in (("PATCH", {"active": False}), ("PATCH", {"role": "viewer"}), ("DELETE", None)):
        r = web.api(method, "/users/admin", **({"json": body} if body else {}))
        assert r.status_code == 409 and r.json()["code"] == "own_account", (method, body)
    assert _me(web, web.token) == 200
    assert web.api("PATCH", "/users/nobody", json={"active": False}).status_code == 404
