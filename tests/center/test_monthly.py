"""The monthly report for the national 112 program, its numbers checked against the incidents it
covers: a month of the center on SQLite (buttons walked to the scene at known times, an AML call
closed as a prank, non-emergencies handed off, one outside the city, one the month before), then
the same report over real HTTP (JSON, CSV) and on the console's printable page."""
from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone

import pytest

from fleet_server.domain.jurisdiction import Jurisdiction
from fleet_server.domain.monthly import OUTSIDE, UNLOCATED, Row, month_bounds, monthly_report, to_csv
from fleet_server.domain.service import IncidentService, Rules
from fleet_server.storage import incidents as incident_repo
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.console.conftest import AREAS, USERS
from tests.server.conftest import FakeClock, alarm

WIB = timezone(timedelta(hours=7))
MONTH = "2026-11"
START = datetime(2026, 11, 1, tzinfo=WIB).timestamp()
BANDUNG = [(-6_921_700, 107_607_000), (-6_902_500, 107_618_800), (-6_890_000, 107_610_000)]
JAKARTA = (-6_175_400, 106_827_100)


@pytest.fixture
def month_of_work(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    j = Jurisdiction.load(AREAS)
    clock = FakeClock(START + 3600)
    svc = IncidentService(SqlIncidentStore(db), Rules(), j, clock=clock)
    # Three SOS buttons, each walked to "on scene" 120 s, 240 s and 400 s after it was received.
    for n, ((lat, lon), response) in enumerate(zip(BANDUNG, (120, 240, 400))):
        svc.register_device(f"btn-{n}", "button", "tech", site=f"site {n}", lat_udeg=lat, lon_udeg=lon, category="medical")
        received = START + 86400 * (n + 1)
        r = svc.ingest_alarm(alarm(f"btn-{n}", 1, ts=received, lat=lat, lon=lon, src="gps"), "mqtt", received)
        for k, step in enumerate(("acknowledged", "dispatched")):
            svc.transition(r.incident_id, step, "op", at=received + 10 + k)
        svc.transition(r.incident_id, "onscene", "dispatch", at=received + response)
    clock.t = START + 86400 * 10
    aml = svc.caller_location(*BANDUNG[1], "gnss", 10, "AML", "sms:aml", caller_number="+6281111111111")
    svc.transition(aml, "prank", "op", "laughing")
    sms = svc.report("unknown", "lampu jalan mati", "sms", caller_number="+6281222222222", channel="sms")
    svc.hand_off(sms, "complaints", "op")
    phone = svc.report("disaster", "tree down", "op", lat_udeg=BANDUNG[2][0], lon_udeg=BANDUNG[2][1])
    svc.hand_off(phone, "agency_desk", "op", reference="BPBD-9")
    svc.report("police", "lost wallet", "op", lat_udeg=JAKARTA[0], lon_udeg=JAKARTA[1])
    svc.report("police", "last month's", "op", received_at=START - 60)
    yield db, j
    db.dispose()


def test_given_a_month_of_work_then_the_report_counts_exactly_the_incidents_it_covers(month_of_work):
    db, j = month_of_work
    since, until = month_bounds(MONTH)
    assert (since, until) == (START, datetime(2026, 12, 1, tzinfo=WIB).timestamp())
    with db.read() as s:
        rows = [Row(*r) for r in incident_repo.monthly_rows(s, since, until)]
    report = monthly_report(rows, MONTH, j.regency)
    by = {b["regency"]: b for b in report["regencies"]}
    assert set(by) == {"Kota Bandung", OUTSIDE, UNLOCATED}
    bdg, total = by["Kota Bandung"], report["total"]
    assert (bdg["reports"], bdg["emergencies"], bdg["non_emergencies"]) == (5, 4, 1)
    assert bdg["by_category"] == {"police": 0, "fire": 0, "sar": 0, "disaster": 1, "medical": 3, "traffic": 0, "unknown": 1}
    assert bdg["by_channel"] == {"button": 3, "phone": 1, "sms": 0, "aml": 1, "other": 0}
    assert bdg["response"] == {"n": 3, "p50": 240.0, "p90": 400.0, "p95": 400.0, "max": 400.0,
                               "within_promise": 2, "within_promise_share": 0.667}
    assert (bdg["pranks"], bdg["false_alarms"], bdg["handed_off"]) == (1, 0, 1)
    assert (by[UNLOCATED]["reports"], by[UNLOCATED]["by_channel"]["sms"], by[UNLOCATED]["handed_off"]) == (1, 1, 1)
    assert (by[OUTSIDE]["reports"], by[OUTSIDE]["by_category"]["police"]) == (1, 1)
    # The month before is not counted; the total is the sum of the regencies.
    assert total["reports"] == 7 == sum(b["reports"] for b in report["regencies"])
    assert (total["handed_off"], total["pranks"], total["response"]["n"]) == (2, 1, 3)
    lines = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [x["regency"] for x in lines] == ["Kota Bandung", UNLOCATED, OUTSIDE, "total"]
    last = lines[-1]
    assert (last["reports"], last["channel_button"], last["response_p50_s"], last["handed_off"]) == ("7", "3", "240.0", "2")


def test_given_a_bad_month_then_it_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2026-13")


def test_given_the_running_server_then_the_report_is_served_as_json_csv_and_a_printable_console_page(server, console):
    month = datetime.fromtimestamp(time.time(), WIB).strftime("%Y-%m")
    ids = [server.api("POST", "/incidents/reports", json={"category": "unknown", "summary": f"report {n}",
                                                          "caller_number": "08123456789"}).json()["id"] for n in range(2)]
    assert server.api("POST", f"/incidents/{ids[0]}/hand-off", json={"channel": "complaints"}).status_code == 200
    r = server.api("GET", "/reports/monthly", params={"month": month}).json()
    assert (r["total"]["reports"], r["total"]["non_emergencies"], r["total"]["handed_off"],
            r["total"]["by_channel"]["phone"]) == (2, 2, 1, 2)
    c = server.api("GET", "/reports/monthly", params={"month": month, "format": "csv"})
    assert c.headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(c.text)))[-1]["handed_off"] == "1"
    bad = server.api("GET", "/reports/monthly", params={"month": "November"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    p = console().login(server.base_url, "viewer", USERS["viewer"])
    p.page.keyboard.press("6")
    total = p.page.wait_for_selector("#monthly-table tr[data-regency='total']")
    cells = total.inner_text().split("\t")
    assert cells[0].strip() == "Total" and cells[1].strip() == "2"
    p.page.emulate_media(media="print")
    assert p.page.is_visible("#monthly-table") and not p.page.is_visible("#topbar")
    assert p.errors == [] and p.outside_requests == []
