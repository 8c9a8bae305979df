# A decoder never raises on bad input: it returns a Rejection with a stable code and a sentence.

TRUNCATED = "truncated"
OVERSIZE = "oversize"
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
UNKNOWN_VERSION = "unknown_version"
UNKNOWN_TYPE = "unknown_type"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
BAD_VALUE = "bad_value"
BAD_TOPIC = "bad_topic"
IDENTITY_MISMATCH = "identity_mismatch"
BAD_HMAC = "bad_hmac"
REPLAYED = "replayed"
STALE = "stale"
UNKNOWN_DEVICE = "unknown_device"
BAD_FORMAT = "bad_format"
BAD_CHECKSUM = "bad_checksum"

CODES = (TRUNCATED, OVERSIZE, NOT_UTF8, NOT_JSON, NOT_OBJECT, UNKNOWN_VERSION, UNKNOWN_TYPE,
         MISSING_FIELD, WRONG_TYPE, OUT_OF_RANGE, BAD_VALUE, BAD_TOPIC, IDENTITY_MISMATCH,
         BAD_HMAC, REPLAYED, STALE, UNKNOWN_DEVICE, BAD_FORMAT, BAD_CHECKSUM)


class Rejection:
    __slots__ = ("code", "reason")

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason

    def __repr__(self):
        return "Rejection(%s: %s)" % (self.code, self.reason)

    def __eq__(self, other):
        return isinstance(other, Rejection) and other.code == self.code

    def __hash__(self):
        return hash(self.code)


def is_rejection(value):
    return isinstance(value, Rejection)
