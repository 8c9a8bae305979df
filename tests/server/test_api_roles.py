"""Role matrix over real HTTP: every route the app publishes in its OpenAPI document × every role
(and no token) gives 401 / 403 / 2xx exactly as the route declares (x-required-role). The routes
come from the running app, so a new route cannot escape: without an example request below, or
without a declared role, this test fails."""
import itertools

import httpx
import pytest

from fleet_server.api.security import ROLES, role_at_least
from tests.support.server import FleetServer

_n = itertools.count(1)


def _incident(srv) -> int:
    r = srv.api("POST", "/incidents/reports", json={"category": "fire", "summary": "asap di pasar"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _unit(srv) -> str:
    n = next(_n)
    r = srv.api("POST", "/units", json={"id": f"amb-m{n}", "callsign": f"AMB {n}", "agency": "medical",
                                         "type": "ambulance", "device_id": f"trk-m{n}"})
    assert r.status_code == 201, r.text
    return f"amb-m{n}"


def _dispatch_incident(srv) -> int:
    inc = _incident(srv)
    r = srv.api("POST", "/dispatch/incidents", json={"id": inc, "lat": -6_914_700, "lon": 107_609_800,
                                                     "category": "medical"})
    assert r.status_code == 201, r.text
    return inc


def _police_report(srv) -> int:
    """A Polri report at Polsek Andir: its chain is Polrestabes Bandung, then Polsek Andir."""
    r = srv.api("POST", "/incidents/reports", json={"category": "police", "summary": "copet",
                                                    "lat_udeg": -6_914_500, "lon_udeg": 107_576_000})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _forward(srv, accepted: bool = False) -> int:
    """A Polri report forwarded to its Polres (the matrix's station user's station)."""
    r = srv.api("POST", f"/incidents/{_police_report(srv)}/forward", json={})
    assert r.status_code == 201, r.text
    if accepted:
        assert srv.api("POST", f"/forwards/{r.json()['forward']}/accept").status_code == 200
    return r.json()["forward"]


def _user(srv) -> str:
    name = f"u{next(_n)}"
    r = srv.api("POST", "/users", json={"username": name, "password": "password-123", "role": "viewer"})
    assert r.status_code == 201, r.text
    return name


def _order(srv) -> str:
    r = srv.api("POST", "/dispatch/assignments", json={"incident": _dispatch_incident(srv), "unit": _unit(srv)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# (method, path) -> function(server) -> (path parameters, request kwargs)
EXAMPLES = {
    ("get", "/api/v1/auth/me"): lambda srv: ({}, {}),
    ("patch", "/api/v1/auth/me"): lambda srv: ({}, {"json": {"language": "id"}}),
    ("get", "/api/v1/users"): lambda srv: ({}, {}),
    ("post", "/api/v1/users"): lambda srv: ({}, {"json": {"username": f"u{next(_n)}", "password": "password-123",
                                                          "role": "viewer"}}),
    ("patch", "/api/v1/users/{username}"): lambda srv: ({"username": _user(srv)}, {"json": {"role": "operator"}}),
    ("delete", "/api/v1/users/{username}"): lambda srv: ({"username": _user(srv)}, {}),
    # Each role changes its own password to the same one; that ends its tokens (the loop logs in again).
    ("post", "/api/v1/auth/password"): lambda srv: ({}, {"json": {"current_password": "password-123",
                                                                  "new_password": "password-123"}}),
    ("get", "/api/v1/incidents"): lambda srv: ({}, {"params": {"open": True}}),
    ("get", "/api/v1/incidents/{incident_id}"): lambda srv: ({"incident_id": srv.incident}, {}),
    ("post", "/api/v1/incidents/{incident_id}/transition"): lambda srv: (
        {"incident_id": _incident(srv)}, {"json": {"to_state": "acknowledged"}}),
    ("post", "/api/v1/incidents/{incident_id}/notes"): lambda srv: ({"incident_id": srv.incident},
                                                                    {"json": {"text": "penelpon panik"}}),
    ("post", "/api/v1/incidents/reports"): lambda srv: ({}, {"json": {"category": "disaster", "summary": "banjir"}}),
    ("get", "/api/v1/incidents/{incident_id}/cap"): lambda srv: ({"incident_id": srv.incident}, {}),
    # the center's work (fleet_server/api/routes/center.py)
    ("post", "/api/v1/incidents/{incident_id}/reclassify"): lambda srv: (
        {"incident_id": _incident(srv)}, {"json": {"category": "medical", "priority": 2, "reason": "pingsan"}}),
    ("post", "/api/v1/incidents/{incident_id}/hand-off"): lambda srv: (
        {"incident_id": _incident(srv)}, {"json": {"channel": "complaints"}}),
    ("get", "/api/v1/incidents/{incident_id}/caller"): lambda srv: ({"incident_id": srv.incident}, {}),
    ("get", "/api/v1/center/handoff-channels"): lambda srv: ({}, {}),
    # call-taking (fleet_server/api/routes/callers.py)
    ("post", "/api/v1/calls"): lambda srv: ({}, {"json": {"category": "medical", "text": "pingsan",
                                                          "caller_number": "081234567890"}}),
    ("post", "/api/v1/callers/history"): lambda srv: ({}, {"json": {"number": "081234567890"}}),
    ("get", "/api/v1/sites"): lambda srv: ({}, {}),
    ("get", "/api/v1/reports/monthly"): lambda srv: ({}, {"params": {"month": "2026-12"}}),
    # run cards (fleet_server/api/routes/sop.py): the fire report has Damkar's card
    ("get", "/api/v1/center/run-cards"): lambda srv: ({}, {}),
    ("get", "/api/v1/center/promise"): lambda srv: ({}, {}),
    ("get", "/api/v1/incidents/{incident_id}/sop"): lambda srv: ({"incident_id": srv.incident}, {}),
    ("post", "/api/v1/incidents/{incident_id}/sop/ticks"): lambda srv: (
        {"incident_id": _incident(srv)}, {"json": {"step": "location"}}),
    # forwarding to stations (fleet_server/api/routes/forwards.py)
    ("post", "/api/v1/incidents/{incident_id}/forward"): lambda srv: (
        {"incident_id": _police_report(srv)}, {"json": {"station_id": "polrestabes-bandung"}}),
    ("get", "/api/v1/incidents/{incident_id}/forwards"): lambda srv: ({"incident_id": srv.incident}, {}),
    ("get", "/api/v1/forwards"): lambda srv: ({}, {}),
    ("get", "/api/v1/forwards/current"): lambda srv: ({}, {}),
    ("post", "/api/v1/forwards/{forward_id}/accept"): lambda srv: ({"forward_id": _forward(srv)}, {}),
    ("post", "/api/v1/forwards/{forward_id}/hand-down"): lambda srv: ({"forward_id": _forward(srv, True)}, {"json": {}}),
    ("post", "/api/v1/forwards/{forward_id}/return"): lambda srv: ({"forward_id": _forward(srv)},
                                                                   {"json": {"reason": "bukan wilayah"}}),
    ("post", "/api/v1/forwards/{forward_id}/close"): lambda srv: ({"forward_id": _forward(srv, True)},
                                                                  {"json": {"action_taken": True}}),
    ("get", "/api/v1/center/accountability"): lambda srv: ({}, {"params": {"format": "csv"}}),
    ("get", "/api/v1/devices"): lambda srv: ({}, {}),
    ("post", "/api/v1/devices"): lambda srv: ({}, {"json": {"id": f"btn-r{next(_n)}", "kind": "button"}}),
    ("get", "/api/v1/devices/{device_id}"): lambda srv: ({"device_id": "btn-matrix"}, {}),
    ("patch", "/api/v1/devices/{device_id}"): lambda srv: ({"device_id": "btn-matrix"}, {"json": {"site": "Dago"}}),
    ("get", "/api/v1/pranks"): lambda srv: ({}, {}),
    ("post", "/api/v1/trackers"): lambda srv: ({}, {"json": {"protocol": "osmand", "identifier": f"r{next(_n)}"}}),
    ("get", "/api/v1/audit"): lambda srv: ({}, {"params": {"limit": 5}}),
    ("get", "/api/v1/stats"): lambda srv: ({}, {}),
    # units and dispatch (fleet_server/api/routes/units.py), mounted by create_app
    ("get", "/api/v1/units"): lambda srv: ({}, {}),
    ("post", "/api/v1/units"): lambda srv: ({}, {"json": {"id": f"fire-m{next(_n)}", "callsign": "DMK 1",
                                                          "agency": "fire", "type": "fire_truck"}}),
    ("get", "/api/v1/units/{unit_id}"): lambda srv: ({"unit_id": srv.unit}, {}),
    ("get", "/api/v1/units/{unit_id}/history"): lambda srv: ({"unit_id": srv.unit}, {}),
    ("post", "/api/v1/dispatch/incidents"): lambda srv: ({}, {"json": {"id": _incident(srv), "lat": -6_914_700,
                                                                       "lon": 107_609_800, "category": "fire"}}),
    ("get", "/api/v1/dispatch/incidents/{incident}/recommendations"): lambda srv: ({"incident": srv.dispatch_incident}, {}),
    ("get", "/api/v1/dispatch/assignments"): lambda srv: ({}, {}),
    ("post", "/api/v1/dispatch/assignments"): lambda srv: ({}, {"json": {"incident": _dispatch_incident(srv),
                                                                         "unit": _unit(srv)}}),
    ("post", "/api/v1/dispatch/assignments/{order_id}/cancel"): lambda srv: ({"order_id": _order(srv)}, {}),
    ("get", "/api/v1/units-stats"): lambda srv: ({}, {}),
    # firmware releases (fleet_server/releases/api.py); withdrawing again is answered the same
    ("get", "/api/v1/releases"): lambda srv: ({}, {}),
    ("get", "/api/v1/releases/{version}"): lambda srv: ({"version": "1.0.0"}, {}),
    ("post", "/api/v1/releases/{version}/withdraw"): lambda srv: ({"version": "1.0.0"}, {"json": {"reason": "matrix"}}),
    # campaigns of a release (same file); each example campaign targets the matrix button
    ("get", "/api/v1/campaigns"): lambda srv: ({}, {}),
    ("post", "/api/v1/campaigns"): lambda srv: ({}, {"json": {"version": "1.1.0", "devices": ["btn-matrix"]}}),
    ("get", "/api/v1/campaigns/{cid}"): lambda srv: ({"cid": srv.campaign}, {}),
    ("post", "/api/v1/campaigns/{cid}/halt"): lambda srv: ({"cid": srv.campaign}, {"json": {"reason": "matrix"}}),
}
PUBLIC = {("post", "/api/v1/auth/token"), ("get", "/healthz"), ("get", "/metrics"),
          ("get", "/console/api/config"), ("get", "/console/api/areas")}
# Routes trackers and phones call (docs/adapters.md): no operator token, the device's registered
# identity instead; without one the answer is 400 (tests/adapters covers what they accept).
DEVICE_FACING = {("get", "/adapters/osmand"), ("post", "/adapters/osmand"), ("post", "/adapters/owntracks"),
                 ("post", "/adapters/traccar")}


def _release(srv) -> None:
    from fleet_server.releases import bundle, keys
    from fleet_server.releases.store import releases_dir

    keys.create(keys.default_dir(srv.workdir))
    bundle.build("1.0.0", "button", ["sim"], "0.0.0", keys.default_dir(srv.workdir), releases_dir(srv.workdir))
    bundle.build("1.1.0", "button", ["sim"], "0.0.0", keys.default_dir(srv.workdir), releases_dir(srv.workdir))
    r = srv.api("POST", "/campaigns", json={"version": "1.1.0", "devices": ["btn-matrix"]})
    assert r.status_code == 201, r.text
    srv.campaign = r.json()["id"]


@pytest.fixture
def api_server(broker, tmp_path):
    srv = FleetServer(tmp_path / "srv", broker).start()  # with its broker link: dispatch orders publish
    try:
        srv.tokens = {None: None}
        for role in ROLES:
            # The station user works at the Polres the forwarding examples go to.
            station = {"station_id": "polrestabes-bandung"} if role == "station" else {}
            r = srv.api("POST", "/users", json={"username": f"m-{role}", "password": "password-123", "role": role,
                                                **station})
            assert r.status_code == 201, r.text
            srv.tokens[role] = srv.login(f"m-{role}", "password-123")
        assert srv.api("POST", "/devices", json={"id": "btn-matrix", "kind": "button"}).status_code == 201
        srv.incident = _incident(srv)
        srv.unit = _unit(srv)
        srv.dispatch_incident = _dispatch_incident(srv)
        _release(srv)
        yield srv
    finally:
        srv.stop()


def test_given_every_route_and_every_role_then_the_answer_is_401_403_or_2xx_as_the_route_declares(api_server):
    srv = api_server
    spec = httpx.get(srv.base_url + "/openapi.json", timeout=10).json()
    routes = [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    undeclared = [(m, p) for m, p, op in routes
                  if (m, p) not in PUBLIC | DEVICE_FACING and op.get("x-required-role") not in ROLES]
    assert undeclared == [], "every non-public route must declare its role (x-required-role)"
    missing = [(m, p) for m, p, op in routes if (m, p) not in EXAMPLES and (m, p) not in PUBLIC | DEVICE_FACING]
    assert missing == [], "add an example request for each new route"
    checked = 0
    for method, path, op in routes:
        if (method, path) in DEVICE_FACING:
            assert op.get("x-required-role") == "public"
            assert httpx.request(method.upper(), srv.base_url + path, timeout=10).status_code == 400, path
            continue
        if (method, path) in PUBLIC:
            # Public: answers without a token. (The console's two routes do not declare
            # x-required-role yet; the list above names them instead.)
            assert op.get("x-required-role") in (None, "public")
            if method == "get":
                assert 200 <= httpx.get(srv.base_url + path, timeout=10).status_code < 300, path
            continue
        needed = op["x-required-role"]
        assert needed in ROLES
        for role in (None,) + ROLES:
            params, kw = EXAMPLES[(method, path)](srv)
            url = srv.base_url + path.format(**params)
            headers = {"Authorization": f"Bearer {srv.tokens[role]}"} if role else {}
            r = httpx.request(method.upper(), url, headers=headers, timeout=10, **kw)
            if role is None:
                want = {401}
            elif not role_at_least(role, needed):
                want = {403}
            else:
                want = set(range(200, 300))
            assert r.status_code in want, (method, path, role, r.status_code, r.text[:200])
            if path == "/api/v1/auth/password" and role:
                srv.tokens[role] = srv.login(f"m-{role}", "password-123")
            checked += 1
    assert checked == len(EXAMPLES) * (len(ROLES) + 1)


def test_given_a_forged_or_expired_token_then_401(api_server):
    import jwt
    srv = api_server
    forged = jwt.encode({"sub": "admin", "role": "admin", "exp": 4_000_000_000}, "not-our-secret-but-as-long-as-a-real-one", algorithm="HS256")
    expired = jwt.encode({"sub": "admin", "role": "admin", "exp": 1_600_000_000},
                         srv.env["SIAGA_JWT_SECRET"], algorithm="HS256")
    for tok in (forged, expired, "garbage"):
        assert srv.api("GET", "/incidents", token=tok).status_code == 401


def test_given_a_wrong_password_then_no_token_and_the_reason_is_plain(api_server):
    r = httpx.post(api_server.base_url + "/api/v1/auth/token", data={"username": "admin", "password": "nope"}, timeout=10)
    assert r.status_code == 401 and r.json() == {"code": "wrong_credentials", "reason": "wrong username or password"}


def test_given_an_operator_then_acknowledging_is_allowed_but_dispatching_needs_a_dispatcher(api_server):
    srv = api_server
    inc = _incident(srv)
    op, disp = srv.tokens["operator"], srv.tokens["dispatcher"]
    assert srv.api("POST", f"/incidents/{inc}/transition", token=op, json={"to_state": "acknowledged"}).status_code == 200
    r = srv.api("POST", f"/incidents/{inc}/transition", token=op, json={"to_state": "dispatched"})
    assert r.status_code == 403 and "dispatcher" in r.json()["reason"]
    assert srv.api("POST", f"/incidents/{inc}/transition", token=disp, json={"to_state": "dispatched"}).status_code == 200
    r = srv.api("POST", f"/incidents/{inc}/transition", token=disp, json={"to_state": "acknowledged"})
    assert r.status_code == 409 and "cannot go from dispatched to acknowledged" in r.json()["reason"]
    detail = srv.api("GET", f"/incidents/{inc}", token=srv.tokens["viewer"]).json()
    assert [(a["actor"], a["from"], a["to"]) for a in detail["audit"] if a["action"] == "transition"] == [
        ("m-operator", "new", "acknowledged"), ("m-dispatcher", "acknowledged", "dispatched")]
    assert detail["clocks"]["dispatched_at"] >= detail["clocks"]["acknowledged_at"] >= detail["clocks"]["received_at"]


def test_given_the_first_admin_created_by_the_cli_then_it_can_log_in(broker, tmp_path):
    import os
    import subprocess
    import sys
    srv = FleetServer(tmp_path / "srv", broker, env={"SIAGA_RUN_INGEST": "false", "SIAGA_ADMIN_BOOTSTRAP": ""},
                      admin=("kepala", "rahasia-112"))
    env = dict(os.environ, **srv.env)
    out = subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", "admin", "create-user",
                          "kepala", "--role", "admin", "--password", "rahasia-112"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    again = subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", "admin", "create-user",
                            "kepala", "--password", "rahasia-112"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr
    try:
        srv.start()  # logs in as kepala
        assert srv.api("GET", "/users").json()[0] == {"username": "kepala", "role": "admin", "active": True,
                                                       "station_id": None,
                                                       "language": None}
    finally:
        srv.stop()
