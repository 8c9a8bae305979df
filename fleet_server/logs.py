"""Structured logs: one JSON object a line (or plain text for a terminal), with personal data
masked before it is written."""
from __future__ import annotations

import json
import logging
import re
import sys
import time

_PHONE = re.compile(r"\+?\d[\d ]{7,}\d")


def mask_phone(text: str) -> str:
    """+6281234567890 -> +62812*****890: enough to tell two callers apart, not enough to call them."""
    def _m(m: re.Match) -> str:
        s = m.group(0).replace(" ", "")
        if len(s) <= 7:
            return s
        return s[:6] + "*" * (len(s) - 9) + s[-3:]
    return _PHONE.sub(_m, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_phone(record.getMessage()),
        }
        extra = getattr(record, "fields", None)
        if extra:
            out.update({k: (mask_phone(v) if isinstance(v, str) else v) for k, v in extra.items()})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return mask_phone(f"{stamp} {record.levelname:<5} {record.name}: {record.getMessage()} {tail}".rstrip())


def setup(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def event(logger: logging.Logger, level: int, msg: str, **fields) -> None:
    """Log msg with structured fields, e.g. event(log, WARNING, "rejected", reason=..., device=...)."""
    logger.log(level, msg, extra={"fields": fields})
