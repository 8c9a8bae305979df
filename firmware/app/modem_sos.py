# SOS by SMS: the alarm the button could not get acked over MQTT, sent as the protocol's one signed
# GSM-7 line (protocols.codec_sms) to the center's number. The button's app decides when (its
# sms_after_s); this only sends, and says plainly whether the network took it.
from protocols import codec_sms
from protocols.at.modem import AtError


class SmsUplink:
    def __init__(self, modem, center_number, key, log=None):
        self.modem = modem
        self.center = center_number
        self.key = key
        self.log = log
        self.sent = 0
        self.failed = 0

    def send_alarm(self, alarm):
        """-> the network's message reference (int), or None when the SMS could not be sent (no
        network, +CMS ERROR, modem silent): the caller keeps the alarm and tries again later."""
        text = codec_sms.encode_alarm(alarm, self.key)
        try:
            refs = self.modem.send_sms(self.center, text, timeout_ms=60000)
        except AtError as e:
            self.failed += 1
            if self.log:
                self.log("warn", "sos_sms_failed", why=str(e), seq=alarm.get("seq"))
            return None
        self.sent += 1
        if self.log:
            self.log("info", "sos_sms_sent", ref=refs[0], seq=alarm.get("seq"))
        return refs[0]
