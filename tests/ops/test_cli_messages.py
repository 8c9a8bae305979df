"""The siaga command's messages in English and Bahasa Indonesia: every message the code marks
with _() or N_() (found by Babel's own extractor, as `pybabel extract` would) is in both catalogues
with its placeholders, and the real command speaks the language SIAGA_LANG / LANG names — its own
messages and the reasons and hints the layers below it raise."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fleet_server.i18n import LANGUAGES, N_, language, po_path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _marked() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in ("fleet_server", "simulators"):
        for fn, line, msg, _c, _ctx in extract_from_dir(ROOT / d, method_map=[("**.py", "python")],
                                                        keywords={"_": None, "N_": None}):
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


# The command-line modules whose every message a reader sees goes through _(). Output that is data
# (ids, commands to copy, a table of codes a script reads) may stay a literal only when named in
# DATA below, with the reason; a literal with no words in it (rich markup, spacing, "✓", ", ")
# needs no translation and passes.
CLI_MODULES = ("fleet_server/cli.py", "fleet_server/ops/cli.py", "fleet_server/provisioning/cli.py",
               "fleet_server/releases/cli.py", "fleet_server/broker/cluster_cli.py")
# the call -> how many of its leading arguments are messages (ProvisioningError: reason and hint),
# and the keywords that are
MESSAGE_CALLS = {name: 1 for name in ("echo", "secho", "print", "confirm", "prompt", "BadParameter", "UsageError",
                                      "ClickException", "FileError", "add_task")}
MESSAGE_CALLS.update(ProvisioningError=2, ServerError=2, update=0)   # update: a progress bar's description
MESSAGE_KEYWORDS = ("message", "text", "description", "hint")
DATA = {
    # the esptool command a technician copies: a command line, the same in every language
    ("fleet_server/provisioning/cli.py", "esptool "),
    # the command a technician types next, printed beside the translated "Ctrl-C unplugs it."
    ("fleet_server/cli.py", "  siaga device provision --port {port} ...   "),
    # a Patroni node's line: name, role, state, port, timeline are Patroni's own codes
    ("fleet_server/ops/cli.py", "{name:6} {role:13} {state:10} port {port} timeline {timeline}{lag}"),
    ("fleet_server/ops/cli.py", " lag {lag}"),
    # the setting to copy into the server's environment
    ("fleet_server/ops/cli.py", 'SIAGA_DATABASE_URL="$(cat {file})"'),
    # the server's environment variables to set: settings, not sentences
    ("fleet_server/broker/cluster_cli.py",
     "SIAGA_MQTT_TRANSPORT=nats SIAGA_MQTT_PORT={port} SIAGA_MQTT_NATS_SERVERS={servers}"),
    # a NATS node's line: its counters by their monitoring names, read by scripts and tests
    ("fleet_server/broker/cluster_cli.py",
     "{node}: up  connections={connections} leader={leader} streams={streams} messages={messages}  "
     "(mqtt {mqtt}, nats {nats})"),
    ("fleet_server/broker/cluster_cli.py", "{node}: DOWN  (mqtt {mqtt}, nats {nats})"),
}
_MARKUP = re.compile(r"\[/?[a-z ]*\]|\{[^{}]*\}")


def _is_gettext(node, marks=("_",)) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in marks


def _words(node, marks=("_",)) -> list[str]:
    """The literal text in a message expression that does not go through _(): string constants and
    f-strings' literal parts that hold a letter once rich markup and {placeholders} are taken out.
    An f-string counts whole (its text is what a translation would need)."""
    found: list[str] = []

    def visit(n):
        if _is_gettext(n, marks):
            return
        if isinstance(n, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)
            if any(c.isalpha() for c in _MARKUP.sub("", text)):
                found.append(text)
            for v in n.values:
                if isinstance(v, ast.FormattedValue):
                    visit(v.value)
            return
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            if any(c.isalpha() for c in _MARKUP.sub("", n.value)):
                found.append(n.value)
            return
        if isinstance(n, ast.Subscript):
            return visit(n.value)   # row["node"]: a key, not text
        if isinstance(n, ast.Compare):
            return                  # name == "rollback": a code compared, not shown
        if isinstance(n, ast.IfExp):
            return visit(n.body), visit(n.orelse)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get":
            return visit(n.func.value)   # health.get("boot"): a key
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "format":
            visit(n.func.value)     # "...".format(...) outside _(): its text, then the values it fills in
            for a in [*n.args, *(k.value for k in n.keywords)]:
                visit(a)
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return found


def _calls(relpath: str):
    """Each call in a module, with the name it calls (`x.echo(...)`, `echo(...)`: echo)."""
    tree = ast.parse((ROOT / relpath).read_text(encoding="utf-8"), relpath)
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            yield call, call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def _untranslated(relpath: str) -> list[str]:
    out = []
    for call, name in _calls(relpath):
        if name not in MESSAGE_CALLS:
            continue
        messages = call.args[:MESSAGE_CALLS[name]] + [k.value for k in call.keywords if k.arg in MESSAGE_KEYWORDS]
        for m in messages:
            out += [f"{relpath}:{call.lineno}: {w!r}" for w in _words(m) if (relpath, w) not in DATA]
    return out


def test_given_the_cli_modules_when_their_output_calls_are_read_then_no_message_skips_gettext():
    found = [line for path in CLI_MODULES for line in _untranslated(path)]
    assert found == [], "messages not marked with _() (docs/i18n.md):\n" + "\n".join(found)


def test_given_an_unmarked_message_when_the_check_reads_it_then_it_is_found():
    probe = ast.parse('typer.echo(f"stopped {d}")\nconsole.print("[green]✓[/] " + _("done {x}").format(x="-"))\n'
                      'typer.echo("[red]" + "no device")\nraise typer.BadParameter(_("ok"))')
    calls = [n for n in ast.walk(probe) if isinstance(n, ast.Call) and not _is_gettext(n)
             and getattr(n.func, "attr", None) in MESSAGE_CALLS]
    assert len(calls) == 4
    assert [w for c in calls for w in _words(c.args[0])] == ["stopped {}", "no device"]


def test_given_siaga_lang_id_when_the_firmware_and_cluster_commands_run_then_they_speak_indonesian(tmp_path):
    keys = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "firmware", "keys", "--key-dir", str(tmp_path / "keys"))
    assert keys.returncode == 0, keys.stderr
    assert "kunci rilis dibuat di " in keys.stdout and "kunci publik (dipercaya perangkat): " in keys.stdout
    none = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "cluster", "status", "--dir", str(tmp_path / "no-cluster"))
    assert none.returncode == 1 and none.stderr.startswith("tidak ada klaster di ")
    english = _siaga(tmp_path, {"LANG": "en_US.UTF-8"}, "cluster", "status", "--dir", str(tmp_path / "no-cluster"))
    assert english.returncode == 1 and english.stderr.startswith("no cluster in ")


# The layers below the command whose errors it shows: a provisioning check, a release's refusal,
# the database, cluster and broker tools. Their reason and hint are English templates marked N_()
# (str(e) and the logs stay English), filled with parameters and translated where they are shown;
# a literal or an f-string there would reach the reader in English, and _() at the raise would put
# the reader's language into the logs.
DEEP_MODULES = tuple(f"fleet_server/{m}.py" for m in (
    "provisioning/provision", "provisioning/flash", "provisioning/firmware_files", "provisioning/device_link",
    "provisioning/registry", "provisioning/broker_sync", "releases/bundle", "releases/campaigns", "releases/keys",
    "releases/manifest", "releases/store", "ops/database", "ops/db_cluster", "ops/broker_service", "broker/pki",
    "broker/mosquitto", "broker/nats_cluster"))
# the call -> the positions of its arguments that are messages
DEEP_CALLS = {name: (0, 1) for name in ("ProvisioningError", "PortError", "ServerError", "BrokerError", "NeverOnline")}
DEEP_CALLS.update({name: (0,) for name in ("ReleaseError", "CampaignError", "NotFound", "OpsError", "ClusterError",
                                           "BrokerConfigError", "PkiError", "RuntimeError", "ValueError", "Message")})
DEEP_CALLS.update(on_step=(1,), _refused=(1,))   # a provisioning step's line; a server refusal's "what"


def _unmarked(relpath: str) -> list[str]:
    out = []
    for call, name in _calls(relpath):
        if name == "format" and isinstance(call.func, ast.Attribute) and _is_gettext(call.func.value, ("N_",)):
            out.append(f"{relpath}:{call.lineno}: N_(...).format(): pass the values as parameters")
        for i in DEEP_CALLS.get(name, ()):
            if i >= len(call.args):
                continue
            m = call.args[i]
            if _is_gettext(m):
                out.append(f"{relpath}:{call.lineno}: _() where it is raised: mark it N_()")
            elif not _is_gettext(m, ("N_", "Message")):   # a Message is checked as a call of its own
                out += [f"{relpath}:{call.lineno}: {w!r}" for w in _words(m, ("N_",))]
    return out


def test_given_the_layers_below_the_command_when_their_errors_are_read_then_each_message_is_marked():
    found = [line for path in DEEP_MODULES for line in _unmarked(path)]
    assert found == [], "messages not marked with N_() (docs/i18n.md):\n" + "\n".join(found)


def test_given_an_unmarked_deep_message_when_the_check_reads_it_then_it_is_found(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('raise PortError(f"cannot open {p}", "check the cable")\n'
                     'raise ReleaseError(Message(N_("ok {x}"), x=f"{a}/b"))\n'
                     'raise OpsError("no such file")\nraise PkiError(_("translated too early"))\n'
                     'm = Message("plain {x}", x=1)\nn = N_("a {x}").format(x=1)\n'
                     'raise ServerError(N_("fine {x}"), N_("fine too"), x=f"{y} words")\n')
    found = [line.split(": ", 1)[1] for line in _unmarked(str(probe))]
    assert found == ["'cannot open {}'", "'check the cable'", "'no such file'",
                     "_() where it is raised: mark it N_()", "'plain {x}'",
                     "N_(...).format(): pass the values as parameters"], found


def test_given_a_marked_error_when_it_is_raised_then_logs_read_english_and_the_reader_their_language(monkeypatch):
    from fleet_server.i18n import localized
    from fleet_server.provisioning.errors import PortError

    e = PortError(N_("cannot open {port}: {error}"), N_("is the cable plugged in and the port name right "
                  "(ls /dev/ttyUSB* /dev/ttyACM*)? is your user in the dialout group? is another program holding it?"),
                  port="/dev/ttyUSB0", error="[Errno 2] No such file or directory")
    monkeypatch.setenv("SIAGA_LANG", "id")
    assert str(e).startswith("cannot open /dev/ttyUSB0: [Errno 2] No such file or directory\n  check: is the cable")
    assert e.reason == "cannot open /dev/ttyUSB0: [Errno 2] No such file or directory"
    assert localized(e.reason) == "tidak bisa membuka /dev/ttyUSB0: [Errno 2] No such file or directory"
    assert localized(e.hint).startswith("apakah kabelnya tercolok")
    assert localized(e) == localized(e.reason)
    monkeypatch.setenv("SIAGA_LANG", "en")
    assert localized(e.reason) == e.reason


def test_given_siaga_lang_id_when_a_device_command_fails_below_the_command_then_reason_and_hint_speak_indonesian(
        tmp_path):
    image = tmp_path / "esp32.bin"
    image.write_bytes(b"\xe9" + bytes(1023))
    port = "/dev/ttyUSB-siaga-none"
    flash = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "device", "flash", "--port", port, "--image", str(image))
    assert flash.returncode == 1, flash.stdout + flash.stderr
    out = " ".join(flash.stdout.split())      # rich wraps long lines at the terminal's width
    assert f"esptool tidak bisa mem-flash esp32 di {port}: " in out, out
    assert "periksa: apakah papannya tercolok (ls /dev/ttyUSB* /dev/ttyACM*)?" in out, out
    assert "could not flash" not in out and "is the board plugged in" not in out
    server = _siaga(tmp_path, {"LANG": "id_ID.UTF-8"}, "device", "provision", "--port", port, "--kind", "button",
                    "--lat", "-6.9", "--lon", "107.6", "--token", "")
    out = " ".join(server.stdout.split())
    assert server.returncode == 1 and "✗ tidak ada token akses" in out, out + server.stderr
    assert "periksa: berikan --user (seorang teknisi; kata sandinya akan ditanyakan)" in out, out
    english = _siaga(tmp_path, {"LANG": "en_US.UTF-8"}, "device", "flash", "--port", port, "--image", str(image))
    out = " ".join(english.stdout.split())
    assert english.returncode == 1 and f"esptool could not flash the esp32 on {port}: " in out, out
    assert "check: is the board plugged in (ls /dev/ttyUSB* /dev/ttyACM*)?" in out, out


def test_given_siaga_lang_id_when_a_release_is_refused_then_its_reason_speaks_indonesian(tmp_path):
    args = ("firmware", "verify", str(tmp_path / "releases" / "1.0.0"), "--key-dir", str(tmp_path / "no-keys"))
    verify = _siaga(tmp_path, {"SIAGA_LANG": "id"}, *args)
    out = " ".join(verify.stdout.split())
    assert verify.returncode == 1 and f"tidak ada kunci publik rilis di {tmp_path / 'no-keys'}" in out, out
    english = _siaga(tmp_path, {"LANG": "en_US.UTF-8"}, *args)
    out = " ".join(english.stdout.split())
    assert english.returncode == 1 and f"no release public key at {tmp_path / 'no-keys'}" in out, out


def test_given_siaga_lang_id_when_a_restore_is_refused_then_its_reason_speaks_indonesian(tmp_path):
    restore = _siaga(tmp_path, {"SIAGA_LANG": "id"}, "restore", str(tmp_path / "none.db"))
    assert restore.returncode == 1, restore.stdout + restore.stderr
    assert restore.stderr.startswith("ditolak: ") and ": cadangan tidak ada" in restore.stderr, restore.stderr
    english = _siaga(tmp_path, {}, "restore", str(tmp_path / "none.db"))
    assert english.returncode == 1 and english.stderr.startswith("refused: ") and ": no such backup" in english.stderr
