"""The simulated board (simulators.usbdevice) behaves like a MicroPython board on a USB cable, as
far as provisioning relies on it: mpremote's raw REPL works, Ctrl-C stops a running main.py, a
Ctrl-D at the friendly REPL reboots into main.py from its flash, and a pulled cable fails the host."""
from __future__ import annotations

import time

import pytest
import serial
from mpremote.transport_serial import SerialTransport


@pytest.fixture
def host(board):
    t = SerialTransport(board.port, baudrate=115200, timeout=1.0)
    try:
        yield t
    finally:
        try:
            t.close()
        except OSError:
            pass


def test_given_a_board_when_mpremote_enters_raw_repl_then_code_runs_and_errors_come_back_apart(host):
    host.enter_raw_repl(soft_reset=False, timeout_overall=5)
    assert host.eval("6 * 7") == 42
    out, err = host.exec_raw("print('x'); 1/0")
    assert out.strip() == b"x" and b"ZeroDivisionError" in err


def test_given_files_written_over_the_repl_when_rebooted_then_main_py_runs_from_flash_and_ctrl_c_stops_it(board, host):
    host.enter_raw_repl(soft_reset=False, timeout_overall=5)
    host.fs_writefile("lib_on_flash.py", b"WHERE = 'flash'\n")
    host.fs_writefile("main.py", b"import time, lib_on_flash\nstate = lib_on_flash.WHERE\n"
                                 b"while True:\n    time.sleep(0.05)\n")
    assert (board.flash / "main.py").is_file()
    host.exit_raw_repl()
    host.serial.write(b"\x04")          # Ctrl-D at the friendly REPL: soft reboot into main.py
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (board.boots == 2 and board.running_main):
        time.sleep(0.05)
    assert board.boots == 2 and board.running_main
    time.sleep(0.3)                      # let main.py reach its loop
    host.enter_raw_repl(soft_reset=False, timeout_overall=5)   # "\r\x03" interrupts the loop first
    assert host.eval("state") == "flash"
    assert "KeyboardInterrupt" in board.console()


def test_given_a_connected_host_when_the_cable_is_pulled_then_its_next_io_fails(board, host):
    host.enter_raw_repl(soft_reset=False, timeout_overall=5)
    board.unplug()
    # pyserial's words for a gone device: a read that finds nothing ("device disconnected or
    # multiple access"), or a write the pty refuses (EIO), whichever the host reaches first
    with pytest.raises(serial.SerialException, match=r"disconnected|write failed: \[Errno 5\]"):
        for _ in range(8):   # what the board said before the cable went may still be buffered
            host.serial.write(b"\r\x01")
            host.serial.read(1)


def test_given_a_provisioned_flash_when_the_reset_button_is_pressed_then_main_py_runs_again(board, host):
    host.enter_raw_repl(soft_reset=False, timeout_overall=5)
    host.fs_writefile("main.py", b"print('main', 'ran')\n")
    board.reboot()
    assert board.boots == 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "main ran" not in board.console():
        time.sleep(0.05)
    assert "main ran" in board.console()
