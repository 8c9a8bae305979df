"""`siaga device flash`: the esptool command for each chip, and clear errors before and from esptool
(no image is downloaded; a fake image with the ESP32 magic byte stands in for one)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleet_server.provisioning import flash
from fleet_server.provisioning.cli import device_app
from fleet_server.provisioning.errors import PortError, ProvisioningError


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "ESP32_GENERIC-20250415-v1.25.0.bin"
    path.write_bytes(b"\xe9" + bytes(4095))
    return path


def test_given_an_esp32_then_the_image_goes_at_0x1000_after_a_full_erase(image):
    argv = flash.write_flash_args("/dev/ttyUSB0", image)
    assert argv == ["--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800", "write-flash", "-z",
                    "--erase-all", "0x1000", str(image)]


def test_given_an_esp32s3_without_erase_then_the_image_goes_at_0_and_the_file_system_is_kept(image):
    argv = flash.write_flash_args("/dev/ttyACM0", image, chip="esp32s3", baud=115200, erase=False)
    assert argv[-2:] == ["0x0", str(image)] and "--erase-all" not in argv and argv[5] == "115200"


def test_given_an_unknown_chip_then_the_known_ones_are_listed(image):
    with pytest.raises(ProvisioningError) as unknown:
        flash.write_flash_args("/dev/ttyUSB0", image, chip="esp8266")
    assert "esp32s3" in unknown.value.hint


def test_given_a_uf2_instead_of_a_bin_then_it_is_refused_before_esptool_runs(tmp_path):
    uf2 = tmp_path / "RPI_PICO_W.uf2"
    uf2.write_bytes(b"UF2\n" + bytes(508))
    with pytest.raises(ProvisioningError) as wrong:
        flash.flash("/dev/ttyUSB0", uf2)
    assert "not an ESP32 image" in wrong.value.reason and ".bin" in wrong.value.hint


def test_given_a_missing_image_then_it_says_where_to_get_one(tmp_path):
    with pytest.raises(ProvisioningError) as missing:
        flash.flash("/dev/ttyUSB0", tmp_path / "none.bin")
    assert "micropython.org" in missing.value.hint


def test_given_a_port_that_does_not_exist_then_esptool_fails_with_a_reason_and_what_to_check(image):
    with pytest.raises(PortError) as no_port:
        flash.flash("/dev/ttyUSB-siaga-none", image)
    assert "could not flash the esp32 on /dev/ttyUSB-siaga-none" in no_port.value.reason
    assert "BOOT" in no_port.value.hint


def test_given_the_cli_with_dry_run_then_it_prints_the_esptool_command(image):
    result = CliRunner().invoke(device_app, ["flash", "--port", "/dev/ttyUSB0", "--image", str(image), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "esptool --chip esp32 --port /dev/ttyUSB0" in result.output and "0x1000" in result.output


def test_given_the_cli_and_no_port_then_it_exits_1_with_the_reason(image):
    result = CliRunner().invoke(device_app, ["flash", "--port", "/dev/ttyUSB-siaga-none", "--image", str(image)])
    assert result.exit_code == 1 and "could not flash" in result.output
