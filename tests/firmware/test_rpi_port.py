"""The Raspberry Pi port: the same firmware under the unix binary, with GPIO through a sysfs tree
(here a directory laid out like /sys/class/gpio, written by the test as the kernel would) and a
UART through termios on a real pty."""
import json
import os
import subprocess
import time

from protocols.messages import TS_MIN
from tests.firmware.conftest import DEV, DEV_PASS
from tests.support.mpy import MpyProcess, mpy_env
from tests.support.paths import REPO, micropython_binary

BASE = 512
PINS = {"sos": 17, "tamper": 27, "led_red": 23, "led_green": 24, "buzzer": 18}


def _sysfs(root):
    root.mkdir()
    (root / "export").write_text("")
    for n in PINS.values():
        d = root / f"gpio{BASE + n}"
        d.mkdir(parents=True)
        for name, v in (("direction", "in"), ("active_low", "0"), ("value", "0")):
            (d / name).write_text(v)
    return root


def _value(root, fn, tries=20):
    # The firmware rewrites the file (truncate, write): a read in between sees it empty. Real
    # sysfs has no such moment; here, read again.
    for _ in range(tries):
        v = (root / f"gpio{BASE + PINS[fn]}" / "value").read_text()[:1]
        if v:
            return v
        time.sleep(0.001)
    return ""


def test_given_the_rpi_port_when_the_sos_line_is_held_then_an_alarm_goes_out_and_the_leds_are_driven(
        center, broker, tmp_path):
    gpio = _sysfs(tmp_path / "gpio")
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text(json.dumps({
        "dev": DEV, "password": DEV_PASS, "host": broker.host, "port": broker.port, "lat": -6902000,
        "lon": 107622000, "category": "fire", "hold_ms": 300, "selftest_ms": 200}))
    dev = MpyProcess(["-c", "from firmware.main import main; main()"], cwd=tmp_path,
                     env={"SIAGA_PORT": "rpi", "SIAGA_GPIO_ROOT": str(gpio), "SIAGA_GPIO_BASE": str(BASE),
                          "SIAGA_FLASH": str(flash)}, log=tmp_path / "rpi.log").start()
    try:
        assert center.wait_uplinks("status", 1, timeout=10), dev.output()
        d = gpio / f"gpio{BASE + PINS['sos']}"
        assert (d / "direction").read_text() == "in" and (d / "active_low").read_text() == "1"
        assert (gpio / f"gpio{BASE + PINS['led_red']}" / "direction").read_text() == "out"
        (d / "value").write_text("1")   # the kernel reports the asserted (pressed) level as 1
        time.sleep(0.6)
        (d / "value").write_text("0")
        [a] = center.wait_uplinks("alarm", 1, timeout=5)
        assert (a["cat"], a["trig"], a["ts"] >= TS_MIN) == ("fire", "button", True)
        reds = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and reds != {"0", "1"}:
            reds.add(_value(gpio, "led_red"))
            time.sleep(0.02)
        assert reds == {"0", "1"}, "the red LED blinks 'waiting'"
        center.ack(a)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and _value(gpio, "led_green") != "1":
            time.sleep(0.02)
        assert _value(gpio, "led_green") == "1" and _value(gpio, "led_red") == "0", "steady green: received"
        assert "port=rpi" in dev.output()
    finally:
        dev.stop()


def test_given_a_pty_when_bytes_arrive_then_the_rpi_uart_reads_them_without_waiting_and_writes_back(tmp_path):
    master, slave = os.openpty()
    code = (f"from firmware.ports.rpi import Uart\nimport time\nu = Uart({os.ttyname(slave)!r}, 115200)\n"
            "print('ready')\ngot = b''\nt = time.ticks_ms()\n"
            "while len(got) < 8 and time.ticks_diff(time.ticks_ms(), t) < 3000:\n    got += u.read()\n"
            "t = time.ticks_ms()\nempty = u.read()\nprint(got, empty, time.ticks_diff(time.ticks_ms(), t) < 50)\n"
            "u.write(b'ATI\\r')\n")
    proc = subprocess.Popen([micropython_binary(), "-c", code], cwd=REPO, env=mpy_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        assert proc.stdout.readline() == b"ready\n"  # raw mode set (it discards input queued before)
        os.write(master, b"AT\r\nOK\r\n")
        out = proc.communicate(timeout=10)[0].decode()
        assert proc.returncode == 0, out
        assert "b'AT\\r\\nOK\\r\\n' b'' True" in out, out
        assert os.read(master, 64) == b"ATI\r"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
        os.close(slave)


TRACKER_PINS = {"sos": 17, "accept": 22, "available": 5, "enroute": 6, "onscene": 13, "returning": 19,
                "oos": 26, "ignition": 27, "led": 23, "buzzer": 18}


def test_given_the_rpi_port_as_a_tracker_when_gps_flows_on_its_uart_then_positions_and_crew_status_go_out(
        broker, tmp_path):
    """The tracker app on a Linux Pi: GPS replayed on a real pty as the Pi's UART, crew keys on sysfs."""
    from protocols import codec_json, topics
    from simulators.gps import GpsPty, RouteSource
    from tests.conftest import SERVER_USER, SERVER_PASS
    from tests.support.mqtt import Recorder

    trk = "trk-rpi-01"
    broker.add_account(trk, "pw-rpi")
    broker.reload()
    gpio = tmp_path / "gpio"
    gpio.mkdir()
    (gpio / "export").write_text("")
    for n in TRACKER_PINS.values():
        d = gpio / f"gpio{BASE + n}"
        d.mkdir()
        for name, v in (("direction", "in"), ("active_low", "0"), ("value", "0")):
            (d / name).write_text(v)
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text(json.dumps({
        "app": "tracker", "dev": trk, "password": "pw-rpi", "host": broker.host, "port": broker.port,
        "report_s": 1, "parked_s": 20, "backoff_min_ms": 100, "backoff_max_ms": 1000, "keepalive_s": 5}))
    gps = GpsPty(RouteSource([(-6896301, 107598230), (-6893000, 107598230)], 14), speed=1, retime_to_now=True)
    rec = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS, topics=(f"siaga/v1/dev/{trk}/up/+",))
    dev = None
    try:
        port = gps.open()
        gps.start()
        dev = MpyProcess(["-c", "from firmware.main import main; main()"], cwd=tmp_path,
                         env={"SIAGA_PORT": "rpi", "SIAGA_GPIO_ROOT": str(gpio), "SIAGA_GPIO_BASE": str(BASE),
                              "SIAGA_FLASH": str(flash), "SIAGA_GPS": port}, log=tmp_path / "rpi.log").start()
        pos = rec.wait_for(lambda m: m.topic == topics.up(trk, "pos"), count=2, timeout=20)
        assert len(pos) >= 2, dev.output()[-2000:]
        fix = codec_json.decode(pos[-1].payload, pos[-1].topic)
        assert -6897000 < fix["lat"] < -6892000 and fix["lon"] == 107598230, fix
        key = gpio / f"gpio{BASE + TRACKER_PINS['enroute']}" / "value"
        key.write_text("1")        # the crew presses "en route" (asserted level reads 1)
        time.sleep(0.3)
        key.write_text("0")
        crew = rec.wait_for(lambda m: m.topic == topics.up(trk, "crew"), timeout=10)
        assert [codec_json.decode(m.payload)["crew"] for m in crew][-1:] == ["enroute"], dev.output()[-2000:]
        assert "port=rpi" in dev.output()
    finally:
        if dev is not None:
            dev.stop()
        gps.stop()
        rec.close()
