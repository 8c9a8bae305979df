"""The siaga command's messages in English and Bahasa Indonesia: every message the code marks
with _() (found by Babel's own extractor, as `pybabel extract` would) is in both catalogues with
its placeholders, and the real command speaks the language SIAGA_LANG / LANG names."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fleet_server.i18n import LANGUAGES, language, po_path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _marked() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in ("fleet_server", "simulators"):
        for fn, line, msg, _c, _ctx in extract_from_dir(ROOT / d, method_map=[("**.py", "python")], keywords={"_": None}):
            out.setdefault(msg, []).append(f"{d}/{fn}:{line}")
    return out


def _catalogue(lang: str) -> dict[str, str]:
    with po_path(lang).open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def test_given_the_code_when_its_messages_are_extracted_then_each_is_in_both_catalogues():
    marked = _marked()
    assert len(marked) > 40   # provisioning, db, backup/restore, pki, the demo's start lines
    for lang in LANGUAGES:
        cat = _catalogue(lang)
        missing = {m: where for m, where in marked.items() if not cat.get(m)}
        assert missing == {}, f"{lang}: messages without a translation (docs/i18n.md)"
        assert sorted(set(cat) - set(marked)) == [], f"{lang}: messages no code uses"
        assert {m: s for m, s in cat.items() if sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(s))} == {}
    assert all(_catalogue("en")[m] == m for m in marked)   # English is the source text
    indonesian = _catalogue("id")
    assert sum(indonesian[m] != m for m in marked) > 40


def test_given_the_environment_when_the_language_is_chosen_then_siaga_lang_wins_then_the_locale():
    assert language({}) == "en"
    assert language({"LANG": "id_ID.UTF-8"}) == "id"
    assert language({"LANG": "C.UTF-8"}) == "en"
    assert language({"LANGUAGE": "id:en", "LANG": "en_US.UTF-8"}) == "id"
    assert language({"LC_ALL": "fr_FR.UTF-8", "LANG": "id_ID.UTF-8"}) == "en"   # LC_ALL decides, we lack French
    assert language({"SIAGA_LANG": "id", "LANG": "en_US.UTF-8"}) == "id"
    assert language({"SIAGA_LANG": "en", "LANG": "id_ID.UTF-8"}) == "en"


def _siaga(tmp_path, lang_env: dict, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SIAGA_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(lang_env, SIAGA_DATA_DIR=str(tmp_path), SIAGA_CONFIG=str(tmp_path / "none.toml"))
    return subprocess.run([sys.executable, "-m", "fleet_server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_given_siaga_lang_id_when_a_technician_creates_the_ca_and_the_database_then_the_command_speaks_indonesian(tmp_path):
    made = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "pki", "create-ca", "--dir", str(tmp_path / "pki"))
    assert made.returncode == 0, made.stderr
    assert "provisioning memasang" in made.stdout and "(kunci " in made.stdout
    again = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "pki", "create-ca", "--dir", str(tmp_path / "pki"))
    assert again.returncode == 1 and again.stderr.startswith("ditolak: ")
    db = _siaga(tmp_path, {"LANG": "id_ID.UTF-8"}, "db", "upgrade")
    assert db.returncode == 0, db.stderr
    assert "ditingkatkan dari basis data kosong ke " in db.stdout


def test_given_an_english_locale_when_the_same_commands_run_then_they_speak_english(tmp_path):
    made = _siaga(tmp_path, {"LANG": "en_US.UTF-8"}, "pki", "create-ca", "--dir", str(tmp_path / "pki"))
    assert made.returncode == 0 and "provisioning gives devices" in made.stdout
    db = _siaga(tmp_path, {}, "db", "upgrade")
    assert db.returncode == 0 and "upgraded from an empty database to " in db.stdout


def test_given_siaga_lang_id_when_the_demo_runs_then_its_banner_station_logins_and_status_table_speak_indonesian(tmp_path):
    from fleet_server.broker.mosquitto import free_port

    run = _siaga(tmp_path, {"SIAGA_LANG": "id", "COLUMNS": "200"}, "demo", "--duration", "4", "--workdir",
                 str(tmp_path / "demo"), "--http-port", str(free_port()), "--mqtt-port", str(free_port()),
                 "--no-colleagues")
    out = run.stdout
    assert run.returncode == 0, out[-2000:] + run.stderr[-2000:]
    id_ = _catalogue("id")
    assert id_["Siaga 112 demo is running"] in out
    assert re.search(r"Tampilan pos: polres / \S+ \(Polrestabes Bandung\)", out), out[:2000]
    assert re.search(r"Tampilan pos: polsek / \S+ \(Polsek Regol\)", out), out[:2000]
    table = ("Siaga 112 — simulated Bandung", "devices connected", "timeline pass", "alarms sent / acked / pending",
             "pranks closed", "broker outages survived")
    assert [id_[m] for m in table if id_[m] not in out] == []
    assert [m for m in table if m in out] == []                     # none left in English
    assert id_["Demo stopped: broker and server are down."] in out
