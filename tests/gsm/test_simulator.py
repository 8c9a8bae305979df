"""The modem simulator as others use it: the command-line runner prints pty paths that a real
pyserial client can talk AT to; faults behave as documented."""
from __future__ import annotations

import subprocess
import sys

import pytest
import serial

from protocols.at.modem import AtError, Modem
from fleet_server.sms.serial_uart import SerialUart
from tests.support.paths import REPO


def test_given_the_runner_when_started_then_each_printed_pty_answers_at_and_it_stops_on_sigterm(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "simulators.modem", "--dir", str(tmp_path), "--device", "+62811000031:SIM800"],
                         cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        lines = [p.stdout.readline().split() for _ in range(2)]
        assert [l[:2] for l in lines] == [["+622270112112", "SIM800"], ["+62811000031", "SIM800"]]
        with serial.Serial(lines[1][2], 115200, timeout=2) as s:
            s.write(b"ATE0\r")
            assert b"OK" in s.read_until(b"OK\r\n")
            s.write(b"AT+CSQ\r")
            assert b"\r\n+CSQ: 18,99\r\n" in s.read_until(b"OK\r\n")
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_given_sms_failure_or_an_unknown_command_then_the_errors_real_modems_give(modems):
    sim = modems("+62811000032", "SIM800")
    m = Modem(SerialUart(sim.port))
    m.init()
    sim.faults.add("sms_fail")
    with pytest.raises(AtError) as e:
        m.send_sms("+62811000033", "halo")
    assert (e.value.kind, e.value.code) == ("cms", 500)
    with pytest.raises(AtError) as e:
        m.command("AT+CMQTTSTART")  # a SIM800 has no MQTT
    assert e.value.kind == "error" and sim.commands[-1] == "AT+CMQTTSTART"
