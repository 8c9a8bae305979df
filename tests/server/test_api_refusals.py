"""Every HTTP error has one shape, {"code", "reason"}: in the OpenAPI document of every route, and
in the real bodies the server sends for each kind of refusal (auth, role, unknown id, unknown
route, wrong method, invalid request, refused rule)."""
import re
from types import SimpleNamespace

import httpx
import pytest

from fleet_server.app import create_app
from fleet_server.settings import Settings
from tests.support.server import FleetServer

REFUSAL = "#/components/schemas/Refusal"
CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Public routes that take nothing and refuse nothing: no error response to document.
NOTHING_TO_REFUSE = {("get", "/healthz"), ("get", "/metrics"), ("get", "/console/api/config"),
                     ("get", "/console/api/areas")}


def operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method, path, op


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"))).openapi()


def test_every_route_documents_its_error_responses_with_the_refusal_schema(spec):
    assert set(spec["components"]["schemas"]["Refusal"]["required"]) == {"code", "reason"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    checked = 0
    for method, path, op in operations(spec):
        errors = {s: r for s, r in op["responses"].items() if s[:1] in "45"}
        if (method, path) in NOTHING_TO_REFUSE:
            assert not op.get("parameters") and "requestBody" not in op, (method, path)
            continue
        assert errors, f"{method} {path} documents no error response"
        for s, r in errors.items():
            assert r["content"]["application/json"]["schema"] == {"$ref": REFUSAL}, (method, path, s)
        want = set()
        if op.get("x-required-role", "public") != "public":
            want |= {"401", "403"}
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            want.add("404")
        if op.get("parameters") or "requestBody" in op:
            want.add("422")
        assert want <= set(errors), (method, path, sorted(want - set(errors)))
        checked += 1
    assert checked >= 25


def test_every_reference_in_the_openapi_document_resolves(spec):
    text = repr(spec)
    names = set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text))
    assert names and names <= set(spec["components"]["schemas"]), names - set(spec["components"]["schemas"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # API only: no broker link is needed to refuse requests.
    no_broker = SimpleNamespace(host="127.0.0.1", port=1)
    srv = FleetServer(tmp_path_factory.mktemp("refusals"), no_broker,
                      env={"SIAGA_RUN_INGEST": "false", "SIAGA_RUN_UNITS": "false"}).start()
    try:
        r = srv.api("POST", "/users", json={"username": "viewer-1", "password": "password-123", "role": "viewer"})
        assert r.status_code == 201, r.text
        srv.viewer = srv.login("viewer-1", "password-123")
        r = srv.api("POST", "/incidents/reports", json={"category": "fire", "summary": "asap di pasar"})
        srv.incident = r.json()["id"]
        yield srv
    finally:
        srv.stop()


def _refusal(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"code", "reason"}, body
    assert CODE.match(body["code"]) and body["code"] == code, body
    assert body["reason"].strip(), body
    return body["reason"]


CASES = [
    # (name, method, path, token, kwargs, status, code)
    ("no token", "GET", "/api/v1/incidents", None, {}, 401, "not_authenticated"),
    ("forged token", "GET", "/api/v1/incidents", "garbage", {}, 401, "not_authenticated"),
    ("role too low", "GET", "/api/v1/users", "viewer", {}, 403, "insufficient_role"),
    ("unknown incident", "GET", "/api/v1/incidents/999999", "admin", {}, 404, "not_found"),
    ("unknown device", "GET", "/api/v1/devices/btn-nobody", "admin", {}, 404, "not_found"),
    ("unknown route", "GET", "/api/v1/nothing-here", "admin", {}, 404, "not_found"),
    ("wrong method", "DELETE", "/api/v1/incidents", "admin", {}, 405, "method_not_allowed"),
    ("invalid body", "POST", "/api/v1/incidents/reports", "admin", {"json": {"category": "volcano"}}, 422,
     "invalid_request"),
    ("invalid path parameter", "GET", "/api/v1/incidents/seven", "admin", {}, 422, "invalid_request"),
    ("invalid query", "GET", "/api/v1/incidents", "admin", {"params": {"limit": 0}}, 422, "invalid_request"),
    ("existing user", "POST", "/api/v1/users", "admin",
     {"json": {"username": "viewer-1", "password": "password-123", "role": "viewer"}}, 409, "exists"),
    ("illegal transition", "POST", "/api/v1/incidents/{incident}/transition", "admin",
     {"json": {"to_state": "onscene"}}, 409, "illegal_transition"),
    ("units not running here", "GET", "/api/v1/units", "admin", {}, 503, "units_not_running"),
]


@pytest.mark.parametrize("name,method,path,token,kw,status,code", CASES, ids=[c[0] for c in CASES])
def test_given_a_refused_request_then_the_body_is_code_and_reason(server, name, method, path, token, kw, status, code):
    tokens = {None: None, "admin": server.token, "viewer": server.viewer, "garbage": "garbage"}
    headers = {"Authorization": f"Bearer {tokens[token]}"} if token else {}
    r = httpx.request(method, server.base_url + path.format(incident=server.incident), headers=headers,
                      timeout=10, **kw)
    _refusal(r, status, code)


def test_a_wrong_password_and_a_validation_error_say_what_was_wrong(server):
    r = httpx.post(server.base_url + "/api/v1/auth/token", data={"username": "admin", "password": "nope"}, timeout=10)
    assert _refusal(r, 401, "wrong_credentials") == "wrong username or password"
    assert r.headers["www-authenticate"] == "Bearer"
    r = server.api("POST", "/incidents/reports", json={"category": "fire"})
    assert "summary" in _refusal(r, 422, "invalid_request")
