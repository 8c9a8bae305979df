# The durable outbox: every alarm is on flash before it is first sent, and stays there until the
# fleet server's application ack for its (boot, seq) arrives. A broker PUBACK only means "in the
# broker's RAM", so it clears nothing.
#
# Flash layout (firmware.hal.flash.FlashDir, atomic tmp + rename writes):
#   counters.json        {"boot": B, "seq": S}  S = first seq not yet handed out in any boot
#   outbox/<boot>-<seq>  the alarm's exact wire bytes (protocols.codec_json), one file each
#
# seq is reserved in blocks so a heartbeat does not cost a flash write: the counters file always
# holds a number above every seq used, so after any reboot (even SIGKILL / a power cut) the next
# seq is new. boot is bumped and written before anything is sent in a boot.
import json
from protocols import codec_json
from protocols.rejection import Rejection

COUNTERS = "counters.json"
FOLDER = "outbox"
SEQ_BLOCK = 64


def record_name(boot, seq):
    return "%d-%d" % (boot, seq)


class Outbox:
    def __init__(self, flash, log):
        self.flash = flash
        self.log = log
        self.records = {}
        self.volatile = {}   # records the flash refused to take, (boot, seq) -> bytes
        self.boot = 0
        self._seq = 1
        self._seq_hi = 1

    def start(self):
        """Load the outbox, discard half-written files, begin a new boot. Returns the boot number."""
        self.flash.mkdir(FOLDER)
        cut = self.flash.sweep(FOLDER) + self.flash.sweep("")
        if cut:
            self.log("warn", "flash_cut_write", tmp_files=cut, effect="discarded; the old records stand")
        top_boot, top_seq = 0, 0
        for name in self.flash.names(FOLDER):
            msg = self._load(name)
            if msg is None:
                continue
            key = (msg["boot"], msg["seq"])
            # Only the key stays in RAM: 100 pending alarms as dicts would cost ~30 KB of heap.
            self.records[key] = True
            top_boot = max(top_boot, key[0])
            top_seq = max(top_seq, key[1])
        boot, seq = 0, 1
        text = self.flash.read(COUNTERS)
        if text is not None:
            try:
                c = json.loads(text)
                boot, seq = int(c["boot"]), int(c["seq"])
            except Exception:
                self.log("error", "counters_corrupt", effect="rebuilt from the outbox; acked numbers may repeat")
        # Never below what the outbox proves was used.
        self.boot = max(boot, top_boot) + 1
        self._seq = max(seq, top_seq + 1, 1)
        self._seq_hi = self._seq
        self._reserve()
        return self.boot

    def _load(self, name):
        parts = name.split("-")
        data = self.flash.read(FOLDER + "/" + name)
        msg = codec_json.decode(data) if data is not None else Rejection("truncated", "unreadable")
        ok = (not isinstance(msg, Rejection) and msg["t"] == "alarm" and len(parts) == 2
              and record_name(msg["boot"], msg["seq"]) == name)
        if not ok:
            # Cannot happen through atomic writes; a damaged file is moved aside, never resent.
            self.log("error", "outbox_record_bad", name=name[:40],
                     why=msg.reason if isinstance(msg, Rejection) else "name does not match its content")
            self.flash.remove(FOLDER + "/" + name)
            return None
        return msg

    def _reserve(self):
        self._seq_hi = self._seq + SEQ_BLOCK
        try:
            self.flash.write(COUNTERS, json.dumps({"boot": self.boot, "seq": self._seq_hi}).encode())
        except OSError as e:
            # Flash full or failing: keep numbering in RAM (an alarm must still go out); a reboot
            # may then repeat numbers, which the log says.
            self.log("error", "flash_write_failed", file=COUNTERS, error=repr(e)[:40],
                     effect="numbers kept in RAM; may repeat after a reboot")

    def next_seq(self):
        if self._seq >= self._seq_hi:
            self._reserve()
        s = self._seq
        self._seq += 1
        return s

    def put(self, msg):
        """Write (or rewrite, when presses fold into it) an alarm record; returns its wire bytes."""
        data = codec_json.encode(msg)
        key = (msg["boot"], msg["seq"])
        try:
            self.flash.write(FOLDER + "/" + record_name(key[0], key[1]), data)
            self.volatile.pop(key, None)
        except OSError as e:
            # An SOS is sent even when it cannot be kept: RAM holds it until the ack.
            self.log("error", "flash_write_failed", file=record_name(key[0], key[1]), error=repr(e)[:40],
                     effect="alarm kept in RAM only; lost if the power is cut before the ack")
            self.volatile[key] = data
        self.records[key] = True
        return data

    def ack(self, boot, seq):
        """Remove a record the server acknowledged. False (and nothing changed) for an unknown one."""
        if (boot, seq) not in self.records:
            return False
        self.flash.remove(FOLDER + "/" + record_name(boot, seq))
        del self.records[(boot, seq)]
        self.volatile.pop((boot, seq), None)
        return True

    def pending(self):
        return sorted(self.records.keys())

    def read(self, key):
        """The record's wire bytes, as written; None if it is not pending."""
        if key not in self.records:
            return None
        if key in self.volatile:
            return self.volatile[key]
        return self.flash.read(FOLDER + "/" + record_name(key[0], key[1]))

    def message(self, key):
        data = self.read(key)
        msg = codec_json.decode(data) if data is not None else None
        return None if msg is None or isinstance(msg, Rejection) else msg

    def __len__(self):
        return len(self.records)
