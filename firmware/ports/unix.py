# What the ports that run as a Linux process (sim, rpi) share: the process's place in its session.
#
# A session leader (a systemd service, anything started with setsid) that opens a terminal device
# without O_NOCTTY makes it its controlling terminal, and the kernel sends it SIGHUP when that
# terminal hangs up: a GPS or modem pty whose other end closes (the simulator restarted) would kill
# the firmware. The MicroPython unix binary cannot pass O_NOCTTY (Linux 0o400): its os module has
# no open(), its termios no O_NOCTTY, the built-in open() takes no flags, and there is no ffi to
# call open(2). What it can do is not lead: the kernel gives a controlling terminal only to a
# session leader. So a leader runs the same command line as its child, which is not one, and
# exits with the child's status. A leader whose console is a terminal (a board's REPL on its USB
# serial line, simulators.usbdevice) stays itself: its REPL must not move to a child. Both are in one process group: Ctrl-C, systemd's stop and a
# test's killpg reach the firmware as before.
import os
import sys
import termios


def session_leader():
    """True when this process leads its session (/proc/self/stat: its pid is its session id)."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
    except OSError:
        return False
    after_name = stat[stat.rindex(")") + 2:].split()   # state ppid pgrp session ...
    return stat.split()[0] == after_name[3]


def _quoted(arg):
    return "'" + arg.replace("'", "'\\''") + "'"


def _console_is_a_terminal():
    try:
        termios.tcgetattr(0)
        return True
    except Exception:
        return False


def lead_no_terminal():
    """Return at once in a process that does not lead its session, or whose console is a terminal
    (a board's REPL on its USB serial line, as simulators.usbdevice runs it: the REPL must stay
    this process's); in any other leader (a service), run this command line again as a child and
    exit with its status, never returning."""
    if not session_leader() or _console_is_a_terminal():
        return
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0")[:-1]]   # each argument ends in NUL
    status = os.system("exec " + " ".join(_quoted(a) for a in argv))
    # A wait status: the exit code in the high byte, or the signal that ended the child.
    sys.exit(status >> 8 if status & 0x7F == 0 else 128 + (status & 0x7F))
