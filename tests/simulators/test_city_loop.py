"""A city that loops for hours stays believable: every pass raises new alarms (from buttons idle
past their fold window), pranks come now and then and broker outages rarely; colleagues work the
older part of the queue; the demo's ports and its CLI settings file."""
from __future__ import annotations

import signal
import socket
import time

import pytest
from typer.testing import CliRunner

from fleet_server.cli import app
from fleet_server.i18n import N_, Message, localized
from simulators.city import CityRun, Colleagues, Credentials
from simulators.demo import BANDUNG, PortTaken, check_port
from simulators.scenario import load


def _city(**kw) -> CityRun:
    sc = load(BANDUNG)
    creds = Credentials({d: "pw" for d in [b.id for b in sc.buttons] + [u.tracker_id for u in sc.units]})
    return CityRun(sc, "127.0.0.1", 1, creds, with_trackers=False, **kw)


def test_the_first_pass_is_the_timeline_and_later_ones_keep_pranks_and_outages_rare():
    run = _city()
    kinds = lambda n: [e.event for e in run.pass_events(n)]  # noqa: E731
    timeline = [e.event for e in sorted(run.sc.timeline, key=lambda e: e.at)]
    assert kinds(0) == timeline
    assert "alarm" in kinds(1) and not {"prank", "stuck", "tamper", "broker_outage"} & set(kinds(1))
    assert "prank" in kinds(3) and "broker_outage" not in kinds(3)
    outages = [n for n in range(1, 31) if "broker_outage" in kinds(n)]
    assert outages == [10, 20, 30]   # at the demo's speedup: once every five minutes, not twice a minute


def test_later_passes_press_buttons_idle_past_the_fold_window_and_skip_when_none_is():
    run = _city(refold_s=60, button_active_s=60)
    run.stats.passes = 2   # a later pass
    alarm = next(e for e in run.sc.timeline if e.event == "alarm")
    now = time.monotonic()
    for b in run.buttons:
        run.last_press[b] = now                  # every button just pressed...
    run.last_press["btn-itb"] = now - 61         # ...but one, a minute ago
    b, category = run._button_for(alarm)
    assert b.device_id == "btn-itb" and category == "medical"
    run.last_press["btn-itb"] = now
    assert run._button_for(alarm) is None


def test_colleagues_acknowledge_older_alarms_resolve_arrivals_and_never_touch_the_newest_or_a_unit_on_its_way():
    c = Colleagues(api=None, ack_after_s=40, leave_every=4, late_ack_s=100, resolve_after_s=60, close_after_s=240)
    now = 10_000.0

    def inc(i, state, received_ago, onscene_ago=None):
        return {"id": i, "state": state, "clocks": {"received_at": now - received_ago,
                                                    "onscene_at": None if onscene_ago is None else now - onscene_ago}}
    queue = [inc(1, "new", 10), inc(2, "new", 45), inc(4, "new", 45), inc(5, "dispatched", 500),
             inc(6, "enroute", 300), inc(7, "onscene", 200, 61), inc(9, "onscene", 200, 30),
             inc(10, "acknowledged", 250), inc(11, "new", 241), inc(8, "new", 99), inc(12, "new", 101)]
    assert c.steps(queue, now) == [
        (2, "acknowledged", None),                      # 4 is left to escalate: one in four
        (7, "resolved", None),
        (10, "cancelled", "handled on the phone by a colleague: no unit needed"),
        (11, "cancelled", "handled on the phone by a colleague: no unit needed"),
        (12, "acknowledged", None),                     # ... for a while (8 still waits), not for good
    ]


def test_a_port_in_time_wait_is_free_for_the_demo_and_a_listened_one_is_refused(monkeypatch):
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = srv.accept()
        with pytest.raises(PortTaken) as taken:
            check_port(port, Message(N_("The console/API")), "--http-port")
        assert f"port {port}" in str(taken.value) and "--http-port" in str(taken.value)
        monkeypatch.setenv("SIAGA_LANG", "id")      # the reader's language; str() stays English for the log
        assert localized(taken.value).startswith(f"Konsol/API: port {port} di 127.0.0.1 dipakai program lain")
        assert f"port {port} on 127.0.0.1 is in use" in str(taken.value)
        conn.close()           # the server side closes first: its port goes to TIME_WAIT
        client.close()
    assert check_port(port, Message(N_("The console/API")), "--http-port") == port


def test_create_user_writes_to_the_database_of_the_settings_file_and_asks_for_the_password(tmp_path, monkeypatch):
    from fleet_server.storage import users as user_repo
    from fleet_server.storage.db import Database

    db_url = f"sqlite:///{tmp_path / 'demo' / 'siaga.db'}"
    (tmp_path / "demo").mkdir()
    config = tmp_path / "siaga.toml"
    config.write_text(f'data_dir = "{tmp_path / "demo"}"\n[database]\nurl = "{db_url}"\n')
    monkeypatch.setenv("SIAGA_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(app, ["admin", "create-user", "--help"], env={"COLUMNS": "200"})
    line = next(ln for ln in shown.output.splitlines() if "--password" in ln)
    assert "required" not in line and "asked for" in line
    made = runner.invoke(app, ["admin", "create-user", "rina", "--role", "dispatcher"],
                         input="rina-dispatch-1\nrina-dispatch-1\n")
    assert made.exit_code == 0, made.output
    assert f"created in {db_url}" in made.output
    db = Database(db_url)
    try:
        with db.read() as s:
            assert [(u.username, u.role) for u in user_repo.listing(s)] == [("rina", "dispatcher")]
    finally:
        db.dispose()


def test_a_broker_outage_keeps_the_accounts_provisioned_while_the_city_ran(broker):
    """A technician's device is in the broker's password file (written from the server's records),
    not in the city's memory: the broker that comes back from an outage still lets it in."""
    from fleet_server.broker import hash_password
    from tests.provisioning.conftest import broker_login

    run = _city()
    run.broker = broker
    with open(broker.passwd, "a") as f:
        f.write(f"btn-provisioned:{hash_password('its-own-secret-1')}\n")
    broker.proc.send_signal(signal.SIGHUP)   # as provisioning's broker sync does
    time.sleep(0.5)
    assert broker_login(broker.host, broker.port, "btn-provisioned", "its-own-secret-1") == "Success"
    broker.stop()
    run._restart_broker()
    assert broker_login(broker.host, broker.port, "btn-provisioned", "its-own-secret-1") == "Success"
