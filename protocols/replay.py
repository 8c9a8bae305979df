# Replay window for signed SMS, per device: the highest (boot, seq) seen and a 64-bit mask of the
# sequence numbers just below it (the IPsec anti-replay scheme, RFC 4303 section 3.4.3).
# SMS arrive out of order and late, so a window rather than "must be greater than the last".
from protocols.rejection import Rejection, REPLAYED

WINDOW = 64


class ReplayWindow:
    __slots__ = ("boot", "top", "mask")

    def __init__(self, boot=-1, top=-1, mask=0):
        self.boot = boot
        self.top = top
        self.mask = mask

    def check(self, boot, seq):
        """None if (boot, seq) is new, else a Rejection. Does not record it (see accept)."""
        if boot < self.boot:
            return Rejection(REPLAYED, "boot %d is older than the device's current boot %d" % (boot, self.boot))
        if boot > self.boot or seq > self.top:
            return None
        behind = self.top - seq
        if behind >= WINDOW:
            return Rejection(REPLAYED, "seq %d is more than %d behind the newest %d" % (seq, WINDOW, self.top))
        if self.mask & (1 << behind):
            return Rejection(REPLAYED, "seq %d of boot %d was already received" % (seq, boot))
        return None

    def accept(self, boot, seq):
        r = self.check(boot, seq)
        if r is not None:
            return r
        if boot > self.boot:
            self.boot, self.top, self.mask = boot, seq, 1
        elif seq > self.top:
            shift = seq - self.top
            self.mask = ((self.mask << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            self.top = seq
        else:
            self.mask |= 1 << (self.top - seq)
        return None

    def state(self):
        return (self.boot, self.top, self.mask)
