"""What goes onto a device's flash, decided before anything is registered: the entry module's
import closure, the board's own port and pin file, and a config.json the firmware itself accepts."""
from __future__ import annotations

import json

import pytest

from fleet_server.provisioning.errors import ProvisioningError
from fleet_server.provisioning.firmware_files import device_files

CONFIG = {"dev": "btn-1", "password": "p" * 24, "host": "10.0.0.2", "port": 1883, "site": "Taman Lansia",
          "lat": -6902100, "lon": 107622400, "category": "medical"}


def test_given_an_esp32_button_then_its_flash_gets_the_esp32_port_and_pins_and_no_other_board():
    files = device_files("button", CONFIG, "esp32_button").files
    assert {"firmware/ports/esp32.py", "firmware/boards/esp32_button.py", "firmware/ports/mcu.py"} <= set(files)
    assert not {"firmware/ports/rp2.py", "firmware/ports/sim.py", "firmware/boards/picow_button.py"} & set(files)
    assert not any("tracker" in p for p in files)
    assert json.loads(files["config.json"]) == {**CONFIG, "app": "button"}
    assert files["main.py"] == b"from firmware.main import main\nmain()\n"


def test_given_a_pico_w_button_then_it_gets_the_rp2_port():
    files = device_files("button", CONFIG, "picow_button").files
    assert "firmware/ports/rp2.py" in files and "firmware/ports/esp32.py" not in files


def test_given_a_tracker_then_its_flash_carries_the_tracker_and_protocols():
    cfg = {"dev": "trk-1", "password": "p" * 24, "host": "10.0.0.2"}
    files = device_files("tracker", cfg, "sim").files
    assert {"firmware/app/tracker.py", "protocols/nmea/parse.py", "protocols/codec_json.py"} <= set(files)
    assert json.loads(files["config.json"])["app"] == "tracker"


def test_given_an_esp32_tracker_then_its_flash_gets_the_esp32_port_the_tracker_pins_and_the_device_entry():
    cfg = {"dev": "trk-1", "password": "p" * 24, "host": "10.0.0.2"}
    files = device_files("tracker", cfg, "esp32_tracker").files
    assert {"firmware/ports/esp32.py", "firmware/boards/esp32_tracker.py", "firmware/app/tracker.py"} <= set(files)
    assert "firmware/boards/esp32_button.py" not in files and "firmware/ports/sim.py" not in files
    assert files["main.py"] == b"from firmware.main import main\nmain()\n"


@pytest.mark.parametrize("kind, board, reason", [
    ("tracker", "esp32_button", "carries a button, not a tracker"),
    ("button", "arduino_uno", "unknown board"),
    ("gateway", None, "no firmware for kind 'gateway'"),
])
def test_given_a_board_or_kind_without_firmware_then_it_is_refused_with_the_reason(kind, board, reason):
    with pytest.raises(ProvisioningError) as refused:
        device_files(kind, CONFIG, board)
    assert reason in refused.value.reason


@pytest.mark.parametrize("change, reason", [
    ({"lat": 91_000_000}, "lat must be an integer"),
    ({"dev": "btn/../x"}, "must be a device id"),
    ({"heartbeat": 30}, "unknown setting heartbeat"),
])
def test_given_a_config_the_firmware_would_refuse_then_the_firmware_parsers_reason_is_given(change, reason):
    with pytest.raises(ProvisioningError) as refused:
        device_files("button", {**CONFIG, **change})
    assert reason in refused.value.reason
