"""Callers' numbers: stored in full, masked for a viewer, a station user and a technician, in full for the roles
that call back (operator, dispatcher, admin), each such reveal in the audit trail; lists and the
live feed show them masked to everyone. And device ids that are broker service accounts' names
are refused, so no device can log in to the broker as the server or an observer."""
import json

from websockets.sync.client import connect

NUMBER, MASKED = "+6281234567890", "+62812*****890"


def _report(srv) -> int:
    r = srv.api("POST", "/incidents/reports", token=srv.tokens["operator"],
                json={"category": "medical", "summary": "ibu hamil pendarahan", "reporter": NUMBER,
                         "caller_number": "0812 3456 7890"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_given_a_caller_number_then_a_viewer_sees_it_masked_and_callback_roles_in_full_audited(web):
    inc = _report(web)
    for field in ("reporter", "caller"):   # as given, and normalized (+62...) to find the same caller
        seen = {role: web.api("GET", f"/incidents/{inc}", token=tok).json()[field] for role, tok in web.tokens.items()}
        assert seen == {"viewer": MASKED, "station": MASKED, "technician": MASKED, "operator": NUMBER,
                        "dispatcher": NUMBER, "admin": NUMBER}, field
        listed = {role: [i[field] for i in web.api("GET", "/incidents", token=tok).json() if i["id"] == inc]
                  for role, tok in web.tokens.items()}
        assert all(v == [MASKED] for v in listed.values()), (field, listed)
    for _ in range(3):   # the console fetches an incident again on every dispatch event
        assert web.api("GET", f"/incidents/{inc}", token=web.tokens["operator"]).json()["reporter"] == NUMBER
    audit = web.api("GET", f"/incidents/{inc}").json()["audit"]
    reveals = sorted(a["actor"] for a in audit if a["action"] == "caller_revealed")
    assert reveals == ["admin", "dispatcher", "operator"], "one row per user who saw it, none for masked views"
    assert not any(NUMBER in (a["detail"] or "") for a in audit)


def test_given_the_live_feed_then_every_role_gets_caller_numbers_masked(web):
    url = web.base_url.replace("http", "ws") + "/api/v1/feed?token=" + web.tokens["admin"]
    with connect(url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        inc = _report(web)
        for _ in range(20):
            ev = json.loads(ws.recv(timeout=10))
            if ev.get("type") == "incident" and ev["incident"]["id"] == inc:
                break
        assert ev["incident"]["reporter"] == ev["incident"]["caller"] == MASKED
        assert NUMBER not in json.dumps(ev)


def test_given_a_device_id_that_is_a_service_account_then_registration_is_refused(web):
    tech = web.tokens["technician"]
    for name in ("fleet-server", "observer", "Observer", "siaga-fleet-server", "siaga-fleet-server-alarms"):
        r = web.api("POST", "/devices", token=tech, json={"id": name, "kind": "button"})
        assert r.status_code == 409 and r.json()["code"] == "reserved_id", (name, r.text)
        assert "service account" in r.json()["reason"]
    assert web.api("GET", "/devices/observer").status_code == 404, "nothing was registered"
    assert web.api("POST", "/devices", token=tech, json={"id": "btn-observer-1", "kind": "button"}).status_code == 201
