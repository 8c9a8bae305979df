# The same driver run over the captured transcripts on either runtime (CPython and the MicroPython
# binary run this file unchanged); prints one JSON list the test compares between the two.
# argv: at_transcripts.json path, then gammu dump paths (AT command line first).
import json
import sys

from protocols.at import parse as modem_parse
from protocols.at.modem import AtError, Modem


class Uart:
    """Releases the next scripted answer when a command line is written (bytes, no bytearray del:
    MicroPython's bytearray cannot delete)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.rx = b""

    def any(self):
        return len(self.rx)

    def read(self, n):
        out, self.rx = self.rx[:n], self.rx[n:]
        return out

    def write(self, data):
        if data.endswith(b"\r") and self.answers:
            self.rx += self.answers.pop(0)
        return len(data)


def frame(lines):
    return b"".join([b"\r\n" + l.encode() + b"\r\n" for l in lines])


def run(fn):
    try:
        return fn()
    except AtError as e:
        return ["AtError", e.kind, e.code]


def main():
    out = []
    doc = json.loads(open(sys.argv[1]).read())
    for t in doc["transcripts"]:
        cmd = t.get("command", "")
        if cmd in ("AT+CSQ", "AT+COPS?", "AT+CREG?", "AT+CSCA?", "AT+CPIN?", "AT+CGMM", "AT+WIND?", "AT+CPMS=?"):
            m = Modem(Uart([frame(t["response"])]))
            fn = {"AT+CSQ": m.signal, "AT+COPS?": m.operator, "AT+CREG?": m.registration, "AT+CSCA?": m.smsc,
                  "AT+CPIN?": m.sim_state, "AT+CGMM": m.model,
                  "AT+WIND?": lambda: m.command("AT+WIND?"), "AT+CPMS=?": lambda: m.command("AT+CPMS=?")}[cmd]
            out.append([cmd, run(fn)])
        for line in t.get("response", ()):
            if line.startswith("+CUSD:"):
                out.append(["ussd", modem_parse.ussd(line)])
    for path in sys.argv[2:]:
        raw = open(path, "rb").read()
        first, rest = raw.split(b"\n", 1)
        cmd = first.decode().strip()
        m = Modem(Uart([rest.replace(b"\n", b"\r\n")]), pdu_mode="sms-txt" not in path)
        if cmd.startswith("AT+CMGR="):
            r = run(lambda: m.read_sms(int(cmd[8:])))
            if type(r) is dict:
                r = [r.get("type"), r.get("number"), r.get("text"), r.get("time")]
        elif cmd == "AT+CREG?":
            r = run(m.registration)
        elif cmd == "AT+CSCA?":
            r = run(m.smsc)
        else:
            r = run(lambda: m.command(cmd))
        out.append([path.split("gammu_dumps/")[-1], r])
    print(json.dumps(out))


main()
