# The provisioning file's app, link and SOS-by-SMS settings, checked by the firmware's own parsers
# under MicroPython: a bad or half setting is a reason, never an exception.
import json
from firmware.app import config, tracker_config

BASE = {"dev": "btn-1", "password": "pw", "host": "127.0.0.1", "lat": -6902000, "lon": 107622000}
SMS = {"sms_after_s": 30, "center_number": "+622270112112", "sms_key": "6b" * 32}


def _parse(extra, parser=config):
    raw = dict(BASE)
    raw.update(extra)
    return parser.parse(json.dumps(raw))


def case_given_no_app_link_or_sms_then_the_button_runs_on_its_ports_network_without_sms():
    cfg, why = _parse({})
    assert why is None, why
    assert cfg["app"] == "button" and cfg["link"] == "ip" and cfg["sms_after_s"] is None


def case_given_gsm_and_a_full_sms_setup_then_it_is_accepted_as_written():
    extra = {"link": "gsm", "apn": "internet"}
    extra.update(SMS)
    cfg, why = _parse(extra)
    assert why is None, why
    assert cfg["link"] == "gsm" and cfg["sms_after_s"] == 30 and cfg["sms_key"] == "6b" * 32


def case_given_sms_after_s_without_the_center_number_or_key_then_the_reason_names_them():
    for missing in ("center_number", "sms_key"):
        extra = dict(SMS)
        del extra[missing]
        cfg, why = _parse(extra)
        assert cfg is None and "center_number and sms_key" in why, why


def case_given_a_sms_key_that_is_not_hex_or_too_short_then_it_is_refused_with_the_reason():
    for bad in ("zz" * 32, "6b" * 4, "6b6", 1234):
        extra = dict(SMS)
        extra["sms_key"] = bad
        cfg, why = _parse(extra)
        assert cfg is None and "sms_key must be 16..64 bytes as hex digits" in why, (bad, why)


def case_given_an_unknown_link_or_app_then_the_reason_lists_the_choices():
    cfg, why = _parse({"link": "lora"})
    assert cfg is None and "link must be one of ip, gsm" in why, why
    cfg, why = _parse({"app": "toaster"})
    assert cfg is None and "app must be one of button, tracker" in why, why


def case_given_a_trackers_config_then_the_button_refuses_it_and_the_tracker_takes_it():
    cfg, why = _parse({"app": "tracker"})
    assert cfg is None and "this is the button's firmware" in why, why
    raw = {"dev": "trk-1", "password": "pw", "host": "127.0.0.1", "app": "tracker", "link": "gsm"}
    cfg, why = tracker_config.parse(json.dumps(raw))
    assert why is None and cfg["app"] == "tracker" and cfg["link"] == "gsm", why
    raw["app"] = "button"
    cfg, why = tracker_config.parse(json.dumps(raw))
    assert cfg is None and "this is the tracker's firmware" in why, why
