"""The demo as the README promises it, driven through the real `siaga demo` process: a city whose
units are bound to their trackers, where a dispatcher created with the printed command logs in to
the console, acknowledges the newest SOS, assigns the recommended unit and watches it go en route
and on scene; and a technician who follows docs/provisioning.md with the printed commands gets a
simulated USB board provisioned and online at the demo's server."""
from __future__ import annotations

import subprocess
import time

import pytest

from simulators.scenario import load
from simulators.demo import BANDUNG
from tests.console.conftest import MARKERS_SHOWN
from tests.demo.conftest import env, run_printed, siaga_argv, wait_until
from tests.support.paths import REPO

DISPATCHER_PW = "rina-dispatch-1"
POLRES, POLSEK = "polrestabes-bandung", "polsek-regol"
ALUN_ALUN = (-6921800, 107607100)     # fleet_server/data/bandung/sites.json: in Polsek Regol


def test_the_demo_prints_the_commands_that_reach_it_and_every_unit_is_bound_to_a_reporting_tracker(demo):
    cmds = demo.commands()
    assert cmds[0] == f"export SIAGA_CONFIG={demo.workdir / 'siaga.toml'}"
    assert [c.split()[1:3] for c in cmds[1:]] == [["admin", "create-user"], ["sim", "usb-board"],
                                                 ["device", "provision"]]
    assert (demo.workdir / "siaga.toml").stat().st_mode & 0o077 == 0   # it holds the observer's password
    sc = load(BANDUNG)
    want = {u.callsign: u.tracker_id for u in sc.units}

    def units():
        got = demo.api("GET", "/units").json()
        return got if len(got) == len(want) and all(u["position"] for u in got) else None
    got = wait_until(units, timeout=30)
    assert got, demo.api("GET", "/units").json()
    assert {u["id"]: u["device_id"] for u in got} == want
    assert {u["type"] for u in got} >= {"rescue_truck"}
    assert demo.api("GET", "/units-stats").json()["positions_rejected"].get("unknown_device", 0) == 0


def test_a_dispatcher_created_as_printed_acknowledges_the_newest_sos_and_watches_the_recommended_unit_reach_it(
        demo, chromium, tmp_path):
    export, create_user = demo.commands()[:2]
    done = run_printed(create_user, export, stdin=f"{DISPATCHER_PW}\n{DISPATCHER_PW}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(demo.workdir / "server" / "siaga.db") in done.stdout
    token = demo.token("rina", DISPATCHER_PW)

    page = chromium.page()
    try:
        page.login(demo.base_url, "rina", DISPATCHER_PW)
        pranks = {e.button for e in load(BANDUNG).timeline if e.event == "prank"}

        def newest_sos():
            fresh = [i for i in demo.api("GET", "/incidents?open=true&limit=200", token).json()
                     if i["state"] == "new" and i["category"] == "medical" and i["origin_device_id"] not in pranks
                     and time.time() - i["clocks"]["received_at"] < 25]
            return max(fresh, key=lambda i: i["clocks"]["received_at"]) if fresh else None
        inc = wait_until(newest_sos, timeout=90, every=1)
        assert inc, "no new medical SOS arrived"
        inc_id = inc["id"]

        p = page.page
        # The city's open incidents and its 14 units, most of them downtown: at 1366x768 every
        # marker is on the map, none covered, the newest SOS among them.
        p.wait_for_selector(f"#map .inc-icon[data-incident='{inc_id}']")
        assert p.eval_on_selector_all("#map .unit-mk", "els => els.length") == len(load(BANDUNG).units)
        assert wait_until(lambda: p.eval_on_selector("#map", MARKERS_SHOWN) == [], timeout=15), \
            p.eval_on_selector("#map", MARKERS_SHOWN)
        p.screenshot(path=str(tmp_path / "demo-queue.png"))
        assert p.evaluate("document.documentElement.lang") == "id"   # the demo center speaks Indonesian
        p.click(f"#queue [data-incident='{inc_id}']")
        p.click("button[data-act=acknowledge]")
        p.wait_for_selector("#inc-state:text-is('diterima')")
        p.wait_for_selector("#inc-recos .reco")
        pick = p.get_attribute("#inc-recos .reco", "data-unit")
        recos = demo.api("GET", f"/dispatch/incidents/{inc_id}/recommendations", token).json()
        assert pick == recos["picks"][0]["unit"] and pick.startswith("AMB-")
        p.click(f"#inc-recos .reco[data-unit='{pick}'] button[data-act=assign]")
        p.wait_for_selector("#confirm-dialog[open]")
        p.click("#confirm-ok")

        # The simulated tracker accepts the order and drives there (no faster than the server
        # believes a road vehicle can go): en route, then on scene, in the console too.
        state = lambda: demo.api("GET", f"/incidents/{inc_id}", token).json()["state"]  # noqa: E731
        assert wait_until(lambda: state() in ("enroute", "onscene"), timeout=20), state()
        p.wait_for_selector("#inc-state:has-text('dalam perjalanan'), #inc-state:has-text('di lokasi')")
        assert wait_until(lambda: state() == "onscene", timeout=180, every=1), state()
        p.wait_for_selector("#inc-state:has-text('di lokasi')", timeout=15_000)
        unit = demo.api("GET", f"/units/{pick}", token).json()
        assert unit["status"] == "onscene"
        orders = demo.api("GET", f"/dispatch/assignments?incident={inc_id}", token).json()
        assert [(o["unit"], o["state"], o["by"]) for o in orders] == [(pick, "onscene", "rina")]
        p.screenshot(path=str(tmp_path / "demo-onscene.png"))
        assert page.errors == [] and page.outside_requests == []
    finally:
        page.close()


def test_the_demos_station_users_log_in_as_printed_and_see_their_stations_forwards(demo, chromium):
    # Police SOS are forwarded to Polrestabes Bandung on routing; its user accepts one and hands
    # it down to the Polsek the SOS is in, whose user then finds it in their station view.
    users = demo.station_users()
    assert {u: name for u, (_, name) in users.items()} == {"polres": "Polrestabes Bandung", "polsek": "Polsek Regol"}
    tokens = {u: demo.token(u, pw) for u, (pw, _) in users.items()}
    assert demo.api("GET", "/auth/me", tokens["polres"]).json()["station_id"] == POLRES

    def waiting_forward():
        fresh = [f for f in demo.api("GET", "/forwards", tokens["polres"]).json()
                 if f["state"] == "pending" and f["station"] == POLRES and f["incident_summary"]["station"] == POLSEK
                 and time.time() - f["sent_at"] < 60]
        return max(fresh, key=lambda f: f["sent_at"]) if fresh else None
    fwd = wait_until(waiting_forward, timeout=10, every=1)
    if fwd is None:
        # The city's Alun-Alun police alarm folds into its open incident for as long as it is
        # pressed again within a minute: on a slow machine the forward of its first pass is older
        # than a minute by now. A call-taker records a fresh call there, as on a shift.
        call = {"kind": "emergency", "category": "police", "text": "perkelahian di alun-alun",
                "located_by": "site", "lat_udeg": ALUN_ALUN[0], "lon_udeg": ALUN_ALUN[1], "site": "Alun-Alun Bandung"}
        assert demo.api("POST", "/calls", demo.token(), json=call).status_code == 201
        fwd = wait_until(waiting_forward, timeout=60, every=1)
    assert fwd, "no police SOS in Polsek Regol was forwarded to the Polres"
    row = f"#station-list tr[data-forward='{fwd['forward']}']"
    polres, polsek = chromium.page(), chromium.page()
    try:
        polres.login(demo.base_url, "polres", users["polres"][0])
        polres.page.wait_for_selector("body[data-page=station]")   # a station user lands on the station view
        polres.page.click(f"{row} button[data-step='accept']")
        polres.page.wait_for_selector(f"{row}[data-forward-state='accepted']")
        polres.page.click(f"{row} button[data-step='hand-down']")
        polres.page.wait_for_selector(f"{row}", state="detached")

        polsek.login(demo.base_url, "polsek", users["polsek"][0])
        mine = polsek.page.wait_for_selector(f"#station-list tr[data-incident='{fwd['incident']}'][data-forward-state='pending']")
        assert "Polsek Regol" in mine.inner_text()
        rows = demo.api("GET", "/forwards", tokens["polsek"]).json()
        assert {f["station"] for f in rows} == {POLSEK} and fwd["incident"] in {f["incident"] for f in rows}
        assert polres.errors == [] and polsek.errors == []
    finally:
        polres.close()
        polsek.close()


def test_the_timeline_keeps_raising_new_alarms_after_its_first_pass(demo):
    # The first pass takes 30 s at the scenario's speedup; incidents received after it ended prove
    # the loop still raises alarms (later passes press buttons idle past their fold window).
    started = min(i["clocks"]["received_at"] for i in demo.api("GET", "/incidents?limit=500").json())

    def later():
        return [i for i in demo.api("GET", "/incidents?limit=500").json()
                if i["clocks"]["received_at"] > started + 40 and i["type"] == "emergency"]
    assert wait_until(lambda: len(later()) >= 2, timeout=120, every=2), demo.output()[-2000:]


def test_a_technician_following_the_provisioning_guide_gets_a_simulated_usb_board_online_at_the_demo(demo):
    export, _, usb_board, provision = demo.commands()
    board = subprocess.Popen(["bash", "-c", f"{export}\nexec {usb_board}"], cwd=REPO, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        first = board.stdout.readline()
        assert first.startswith("board on /dev/pts/"), first
        done = run_printed(provision, export, stdin=demo.technician_password + "\n", timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "done" in done.stdout and "provisioning_" not in done.stdout + done.stderr
        # Without a terminal the bytes written show as lines, a tenth of the files at a time.
        assert done.stdout.count("writing files:") >= 10, done.stdout
        device_id = done.stdout.split("done: ", 1)[1].split()[0]
        view = demo.api("GET", f"/devices/{device_id}").json()
        assert view["status"] == "online" and view["site"] == "Taman Lansia"
        listed = run_printed(f"{provision.split()[0]} device list --kind button --user technician", export,
                             stdin=demo.technician_password + "\n")
        assert device_id in listed.stdout, listed.stdout + listed.stderr
    finally:
        board.terminate()
        board.wait(15)


def test_a_scenario_run_against_the_running_demo_is_refused_before_it_locks_the_demos_devices_out(demo):
    # The same city played a second time would register the demo's devices again with new
    # passwords: every simulated device of the demo would be refused at its next connect.
    passwd = (demo.workdir / "broker" / "passwd").read_text()
    line = next(ln for ln in passwd.splitlines() if ln.startswith("btn-alun-alun:"))
    done = subprocess.run(siaga_argv() + ["sim", "run", str(BANDUNG), "--server", demo.base_url, "--broker-dir",
                                          str(demo.workdir / "broker"), "--password", demo.admin_password],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "of this scenario's devices are online at" in said and "running demo" in said, said
    assert "Traceback" not in said
    assert line in (demo.workdir / "broker" / "passwd").read_text().splitlines()
    assert demo.api("GET", "/devices/btn-alun-alun").json()["status"] == "online"
