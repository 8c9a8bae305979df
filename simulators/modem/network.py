"""The SMS "network" between simulated modems: an in-process SMSC. A modem's SMS-SUBMIT becomes an
SMS-DELIVER (one per part, concatenation kept) in the recipient modem's storage, announced by
+CMTI. Phones without a modem (a citizen's handset sending AML or a text report) are numbers
whose outgoing SMS tests inject with send_from() and whose incoming SMS land in inbox()."""
from __future__ import annotations

import threading
import time

from protocols.sms import pdu as sms_pdu

WIB_QUARTERS = 28  # Western Indonesia Time, UTC+7, as Indonesian SMSCs stamp it


class SmsNetwork:
    def __init__(self, smsc: str = "+6281100000", delay_s: float = 0.0):
        self.smsc = smsc
        self.delay_s = delay_s
        self._modems: dict[str, object] = {}
        self._inbox: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._ref = 0
        self.delivered = 0
        self.dropped = 0

    def attach(self, number: str, modem) -> None:
        with self._lock:
            self._modems[number] = modem

    def detach(self, number: str) -> None:
        with self._lock:
            self._modems.pop(number, None)

    def _scts(self) -> tuple:
        return sms_pdu.from_unix(int(time.time()), WIB_QUARTERS)

    def next_reference(self) -> int:
        with self._lock:
            self._ref = (self._ref + 1) % 256
            return self._ref

    def submit(self, sender: str, msg: dict) -> bool:
        """A decoded SMS-SUBMIT part from a modem (or a phone). Returns False when nobody can take
        it (the number is unknown to this network: kept in its inbox like a phone's)."""
        udh = b""
        if msg.get("concat"):
            ref, total, part = msg["concat"]
            ie = sms_pdu.concat_ie(ref, total, part)
            udh = bytes((len(ie),)) + ie
        pdu, n = sms_pdu.encode_deliver(sender, msg["text"], self._scts(), self.smsc, udh)
        return self._deliver(msg["number"], sender, pdu, n, msg["text"])

    def send_from(self, sender: str, to: str, text: str) -> int:
        """A phone sends text to a number (split into parts like a handset would). -> parts."""
        parts = sms_pdu.encode_deliver_parts(sender, text, self._scts(), self.next_reference(), self.smsc)
        for pdu, n in parts:
            self._deliver(to, sender, pdu, n, text)
        return len(parts)

    def send_pdu_from(self, to: str, deliver_pdu_hex: str) -> None:
        """Deliver a prepared SMS-DELIVER PDU as is (replayed or altered captures)."""
        msg = sms_pdu.decode(deliver_pdu_hex)
        self._deliver(to, msg["number"], deliver_pdu_hex, msg["tpdu_length"], msg["text"])

    def _deliver(self, to: str, sender: str, pdu: str, n: int, text: str) -> bool:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            modem = self._modems.get(to)
            if modem is None:
                self._inbox.setdefault(to, []).append({"from": sender, "text": text, "pdu": pdu})
                self.delivered += 1
                return False
        if modem.receive(pdu, n):
            self.delivered += 1
            return True
        self.dropped += 1
        return False

    def inbox(self, number: str) -> list[dict]:
        with self._lock:
            return list(self._inbox.get(number, []))
