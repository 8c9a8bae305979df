# Store-and-forward for a tracker's uplink, on flash, for messages the fleet server does not ack
# itself (positions, crew status, command results). Alarms use firmware.app.outbox, which keeps
# each one until the server's own ack.
#
#   backlog/c-<seq>-<type>  critical: crew status and cmdres. Never dropped; sent first, oldest first.
#   backlog/p-<seq>-pos     positions. At most pos_max; when full, every second one of the oldest half
#                     is deleted (thinned: the track keeps its shape at half the resolution,
#                     and the newest fixes stay whole).
#
# A record leaves the store when the broker's PUBACK for it arrives: that is enough here, the
# server's session is persistent at the broker. Each file holds the exact wire bytes; writes are
# atomic (firmware.hal.flash), so a power cut leaves whole records only.
FOLDER = "backlog"
CRITICAL = "c"
POSITION = "p"


class Backlog:
    def __init__(self, flash, log, pos_max=500):
        self.flash = flash
        self.log = log
        self.pos_max = pos_max
        self.keys = {CRITICAL: [], POSITION: []}   # (seq, type) on flash, ascending
        self.thinned = 0

    def start(self):
        self.flash.mkdir(FOLDER)
        self.flash.sweep(FOLDER)
        for name in self.flash.names(FOLDER):
            parts = name.split("-")
            if len(parts) == 3 and parts[0] in self.keys and parts[1].isdigit() and parts[2]:
                self.keys[parts[0]].append((int(parts[1]), parts[2]))
            else:
                self.log("warn", "backlog_file_unknown", name=name[:40], effect="removed")
                self.flash.remove(FOLDER + "/" + name)
        for lane in self.keys:
            self.keys[lane].sort()
        return len(self)

    def put(self, lane, seq, kind, data):
        """Keep a message (wire bytes of message type `kind`) until its PUBACK. seq is the
        device's message seq, unique in a boot."""
        if lane == POSITION and len(self.keys[POSITION]) >= self.pos_max:
            self._thin()
        key = (seq, kind)
        self.flash.write(self._name(lane, key), data)
        self.keys[lane].append(key)
        if len(self.keys[lane]) > 1 and self.keys[lane][-2] > key:
            self.keys[lane].sort()

    def _thin(self):
        keys = self.keys[POSITION]
        half = len(keys) // 2
        drop = keys[1:half + 1:2] if half else keys[:1]
        gone = {}
        for k in drop:
            self.flash.remove(self._name(POSITION, k))
            gone[k] = True
        self.keys[POSITION] = [k for k in keys if k not in gone]
        self.thinned += len(drop)
        self.log("warn", "backlog_thinned", dropped=len(drop), kept=len(self.keys[POSITION]),
                 why="position store full while offline")

    def pending(self):
        """(lane, (seq, type)) in sending order: every critical record first, then positions,
        oldest first."""
        out = []
        for k in self.keys[CRITICAL]:
            out.append((CRITICAL, k))
        for k in self.keys[POSITION]:
            out.append((POSITION, k))
        return out

    def read(self, lane, key):
        return self.flash.read(self._name(lane, key))

    def done(self, lane, key):
        if key in self.keys[lane]:
            self.keys[lane].remove(key)
            self.flash.remove(self._name(lane, key))

    def count(self, lane):
        return len(self.keys[lane])

    def __len__(self):
        return len(self.keys[CRITICAL]) + len(self.keys[POSITION])

    def _name(self, lane, key):
        return "%s/%s-%d-%s" % (FOLDER, lane, key[0], key[1])
