"""Taking a call in the console, in headless Chromium against the real server and broker: the
call-taker records a phone report with the keyboard only (T, then Tab through number, name,
location, category, text, Enter) in well under a minute of keystrokes, and it lands in the
emergency queue at the right Polsek under its Polres; the caller's history shows the number's
earlier AML location and SMS text, which came through the real SMS gateway (a simulated SIM800 on
a pty) from the number written another way, and the report is placed at that AML fix."""
from __future__ import annotations

import time

from fleet_server.domain.jurisdiction import Jurisdiction
from simulators.modem import SimModem, SmsNetwork
from tests.console.conftest import AREAS, USERS, start_server, wait_until

ALUN_ALUN = (-6921800, 107607100)     # fleet_server/data/bandung/sites.json
CENTER_NUMBER = "+622270112112"
AML = ('A"ML=1;lt=-6.91474;lg=+107.60981;rd=50;top=20261122141935;lc=68;pm=G;si=510101234567890;'
       'ei=3534560000000000;mcc=510;mnc=10;ml=0')
AML_FIX = (-6914740, 107609810)
KEYS_PER_S = 3   # a slow typist: 180 keys a minute


class Keyboard:
    """The page's keyboard, counting every key the call-taker presses."""

    def __init__(self, page):
        self.page, self.keys = page, 0

    def press(self, key: str) -> None:
        self.keys += 1
        self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.keys += len(text)
        self.page.keyboard.type(text)


def _aml_text() -> str:
    text = AML[:-1] + str(len(AML) - 1 + 3)   # ml: the whole SMS's length, itself included
    assert len(text) == int(text.rsplit("=", 1)[1])
    return text


def test_given_a_call_when_the_call_taker_types_it_by_keyboard_only_then_it_is_in_the_queue_at_its_polsek_and_polres(server, console, make_button):
    make_button("btn-taman", site="Taman Alun-alun Bandung")   # a registered site: in the list too
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.wait_for_selector("#queue-empty")
    kb = Keyboard(p.page)
    started = time.monotonic()
    kb.press("t")
    assert p.page.evaluate("document.activeElement.id") == "ct-number"
    kb.type("0812 3456 7890")
    kb.press("Tab")
    assert p.page.evaluate("document.activeElement.id") == "ct-name"
    kb.type("Budi")
    kb.press("Tab")
    assert p.page.evaluate("document.activeElement.id") == "ct-location"
    kb.type("alun")
    p.page.wait_for_selector("#ct-sites li[aria-selected='true']")
    assert p.page.inner_text("#ct-sites li[aria-selected='true']").startswith("Alun-Alun Bandung")
    kb.press("Tab")                        # takes the highlighted site and moves on
    assert p.page.evaluate("document.activeElement.id") == "ct-category"
    assert p.page.get_attribute("#ct-where", "data-by") == "site"
    kb.type("p")                           # the select's type-ahead: police
    assert p.page.input_value("#ct-category") == "police"
    kb.press("Tab")
    assert p.page.evaluate("document.activeElement.id") == "ct-text"
    kb.type("dua orang berkelahi, satu membawa pisau")
    kb.press("Enter")
    p.page.wait_for_selector("#queue [data-incident]")
    typed_s = time.monotonic() - started
    # The feed's event may draw the row before the answer to the form's POST closes the form.
    p.page.locator("#calltake").wait_for(state="hidden", timeout=5000)
    assert kb.keys / KEYS_PER_S < 60, f"{kb.keys} keys: over a minute for a slow typist"
    assert typed_s < 60

    [row] = server.api("GET", "/incidents", params={"type": "emergency", "open": True}).json()
    inc = server.api("GET", f"/incidents/{row['id']}").json()
    polsek = Jurisdiction.load(AREAS).locate(*ALUN_ALUN, "police")
    assert polsek["level"] == "polsek" and polsek["parent"]["level"] == "polres"
    assert inc["station"] == {"id": polsek["id"], "name": polsek["name"], "parent": polsek["parent"]["id"]}
    assert (inc["agency"], inc["category"], inc["channel"], inc["reporter"], inc["site"]) == \
        ("polri", "police", "phone", "Budi", "Alun-Alun Bandung")
    assert inc["summary"] == "dua orang berkelahi, satu membawa pisau"
    [taken] = [a for a in inc["audit"] if a["action"] == "phone_report"]
    assert taken["actor"] == "operator" and "caller Budi" in taken["detail"]
    # The console selected the new incident: its view names the Polsek.
    p.page.wait_for_selector(f"[data-incident-view='{row['id']}']")
    assert polsek["name"] in p.page.inner_text(".inc-head")
    assert p.errors == [] and p.outside_requests == []
    print(f"call typed in {kb.keys} keys, {typed_s:.1f} s")


def test_given_earlier_sms_and_aml_from_a_number_when_it_is_typed_in_another_form_then_the_history_shows_them_and_the_aml_fix_places_the_call(tmp_path, broker, console):
    net = SmsNetwork()
    modem = SimModem(tmp_path / "center-modem", CENTER_NUMBER, net, model="SIM800").start()
    srv = None
    try:
        srv = start_server(tmp_path, broker, env={"SIAGA_SMS_PORT": str(modem.port), "SIAGA_SMS_SWEEP_S": "2",
                                                  "SIAGA_SMS_REPLY": "false", "SIAGA_PRANK_FLAG_THRESHOLD": "1"})
        net.send_from("+6281298765432", CENTER_NUMBER, _aml_text())
        net.send_from("+6281298765432", CENTER_NUMBER, "ada kebakaran di rumah tetangga, cepat!")
        assert wait_until(lambda: len(srv.api("GET", "/incidents").json()) == 2, timeout=30), "both SMS arrived"
        by_channel = {i["channel"]: i["id"] for i in srv.api("GET", "/incidents").json()}
        r = srv.api("POST", f"/incidents/{by_channel['sms']}/transition", json={"to_state": "prank", "reason": "no fire there"})
        assert r.status_code == 200, r.text

        p = console().login(srv.base_url, "operator", USERS["operator"])
        p.page.wait_for_selector("#queue [data-incident]")
        kb = Keyboard(p.page)
        kb.press("t")
        kb.type("0812-9876-5432")
        p.page.wait_for_selector("#ct-history[data-state='shown']")
        assert p.page.get_attribute("#ct-history", "data-number") == "+6281298765432"
        shown = {el.get_attribute("data-history"): el.get_attribute("data-channel")
                 for el in p.page.query_selector_all("#ct-history li[data-history]")}
        assert shown == {str(by_channel["aml"]): "aml", str(by_channel["sms"]): "sms"}
        sms_row = p.page.inner_text(f"#ct-history li[data-history='{by_channel['sms']}']")
        assert "prank" in sms_row and "kebakaran" in sms_row
        assert p.page.get_attribute("#ct-flag", "data-flagged") == "true"
        assert f"#{by_channel['sms']} closed as prank" in p.page.inner_text("#ct-flag")
        assert "±50 m" in p.page.inner_text("#ct-lastfix")
        kb.press("Tab")
        kb.type("Ani")
        kb.press("Tab")
        kb.type("aml")
        p.page.wait_for_selector("#ct-sites li[aria-selected='true']")
        kb.press("Tab")
        assert p.page.get_attribute("#ct-where", "data-by") == "aml"
        kb.type("m")                          # medical
        assert p.page.input_value("#ct-category") == "medical"
        kb.press("Tab")
        kb.type("ayah saya pingsan, tidak bernapas")
        p.screenshot("calltaking")
        kb.press("Enter")
        assert wait_until(lambda: len(srv.api("GET", "/incidents", params={"open": True}).json()) == 2), \
            "the AML incident and the new call are open; the prank is closed"
        [new] = [i for i in srv.api("GET", "/incidents", params={"open": True}).json()
                 if i["channel"] == "phone"]
        d = srv.api("GET", f"/incidents/{new['id']}").json()
        medical = Jurisdiction.load(AREAS).locate(*AML_FIX, "medical")
        assert (d["location"]["lat_udeg"], d["location"]["lon_udeg"], d["location"]["source"], d["location"]["acc_m"]) == \
            (*AML_FIX, "gps", 50)
        assert d["station"]["id"] == medical["id"] and d["agency"] == "dinkes"
        assert d["prank_suspect"] is True and d["priority"] == 2, "a flagged number still arrives, marked, one step lower"
        assert d["caller"] == "+6281298765432"
        assert p.errors == [] and p.outside_requests == []
    finally:
        if srv is not None:
            srv.stop()
        modem.stop()


def test_given_the_form_open_when_the_call_taker_clicks_the_map_then_the_call_is_placed_and_routed_there(server, console):
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.wait_for_selector("#queue-empty")
    p.page.keyboard.press("t")
    p.page.keyboard.type("022 4201 112")
    box = p.page.locator("#map").bounding_box()
    p.page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
    assert p.page.get_attribute("#ct-where", "data-by") == "map"
    p.page.focus("#ct-category")
    p.page.keyboard.type("f")
    p.page.keyboard.press("Tab")
    p.page.keyboard.type("asap tebal dari gudang")
    p.page.keyboard.press("Enter")
    p.page.wait_for_selector("#queue [data-incident]")
    [row] = server.api("GET", "/incidents", params={"type": "emergency"}).json()
    d = server.api("GET", f"/incidents/{row['id']}").json()
    loc = d["location"]
    assert loc["source"] == "fixed" and loc["lat_udeg"] is not None
    fire = Jurisdiction.load(AREAS).locate(loc["lat_udeg"], loc["lon_udeg"], "fire")
    assert fire is not None, "the click was inside the city"
    assert (d["agency"], d["station"]["id"], d["caller"]) == ("damkar", fire["id"], "+62224201112")
    assert "located on the map" in [a for a in d["audit"] if a["action"] == "phone_report"][0]["detail"]
    assert p.errors == [] and p.outside_requests == []
