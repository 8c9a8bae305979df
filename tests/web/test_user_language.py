"""The console's language per user, over real HTTP and the real `siaga` command: a user without a
choice follows the center's (settings console.language); the user sets their own (PATCH /auth/me),
an admin sets anyone's (PATCH /users, POST /users, `siaga admin set-language`); every change is
audited and a language the console has no catalogue for is refused with the reason."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.web.conftest import start_web_server

ROOT = Path(__file__).resolve().parents[2]


def test_given_an_indonesian_center_when_users_choose_then_each_sees_their_own_and_changes_are_audited(tmp_path):
    srv = start_web_server(tmp_path / "srv", env={"SIAGA_CONSOLE_LANGUAGE": "id"})
    try:
        assert httpx.get(srv.base_url + "/console/api/config", timeout=10).json()["language"] == "id"
        op = srv.tokens["operator"]
        assert srv.api("GET", "/auth/me", token=op).json() == {"username": "operator", "role": "operator",
                                                                "station_id": None, "language": "id", "language_chosen": None}
        # The user's own choice, then back to the center's.
        r = srv.api("PATCH", "/auth/me", token=op, json={"language": "en"})
        assert r.status_code == 200 and (r.json()["language"], r.json()["language_chosen"]) == ("en", "en")
        assert srv.api("GET", "/auth/me", token=op).json()["language"] == "en"
        assert srv.api("PATCH", "/auth/me", token=op, json={"language": ""}).json()["language"] == "id"
        bad = srv.api("PATCH", "/auth/me", token=op, json={"language": "fr"})
        assert bad.status_code == 422 and "language" in bad.text
        # An admin's: at creation and later.
        made = srv.api("POST", "/users", json={"username": "rina", "password": "rina-password-1", "role": "dispatcher",
                                               "language": "en"})
        assert made.status_code == 201 and made.json()["language"] == "en"
        assert srv.api("PATCH", "/users/viewer", json={"language": "en"}).json()["language"] == "en"
        listed = {u["username"]: u["language"] for u in srv.api("GET", "/users").json()}
        assert {name: lang for name, lang in listed.items() if lang} == {"viewer": "en", "rina": "en"}
        assert "operator" in listed and "admin" in listed
        rina = srv.login("rina", "rina-password-1")
        assert srv.api("GET", "/auth/me", token=rina).json()["language"] == "en"
        audit = srv.api("GET", "/audit", params={"entity": "user", "limit": 50}).json()
        changes = [(a["actor"], a["entity_id"], a["from"], a["to"]) for a in audit if a["action"] == "user_language"]
        assert sorted(changes, key=str) == sorted([("operator", "operator", None, "en"), ("operator", "operator", "en", None),
                                                   ("admin", "viewer", None, "en")], key=str)
        # The same from the command line, on the server's database.
        env = {**os.environ, "SIAGA_DATABASE_URL": srv.database_url, "SIAGA_CONFIG": str(tmp_path / "none.toml"),
               "SIAGA_LANG": "en"}
        cli = subprocess.run([sys.executable, "-m", "fleet_server.cli", "admin", "set-language", "rina", "id"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0 and "user rina now sees the console in id" in cli.stdout, cli.stderr
        assert srv.api("GET", "/auth/me", token=rina).json()["language"] == "id"
        refused = subprocess.run([sys.executable, "-m", "fleet_server.cli", "admin", "set-language", "rina", "xx"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and "language must be one of en, id" in refused.stderr
    finally:
        srv.stop()
