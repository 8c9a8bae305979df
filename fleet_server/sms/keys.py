"""The key that seals the devices' SMS signing keys in the database (fleet_server.storage.sealed):
32 random bytes in a file of its own, 0600 in a 0700 directory, outside the database and its
backups. Losing it loses the SMS keys (re-provision the devices' sms_key); copying it with a
database backup defeats it: keep it apart (docs/deploy.md, "Secrets at rest")."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from fleet_server.storage.sealed import KEY_FILE, load_or_create  # noqa: F401 (the key file's rules)


def key_path(data_dir: Path, configured: Path | None = None) -> Path:
    return Path(configured) if configured else Path(data_dir) / "secrets" / KEY_FILE


def seal_stored(db) -> int:
    """Seal the SMS keys still stored in the clear (a database from before sealing); returns how many."""
    from fleet_server.storage.models import Device
    from fleet_server.storage.sealed import is_sealed
    t = Device.__table__
    with db.session() as s:
        raw = s.connection().exec_driver_sql("SELECT id, sms_key FROM devices WHERE sms_key IS NOT NULL").all()
        clear = [(device_id, stored) for device_id, stored in raw if not is_sealed(stored)]
        for device_id, stored in clear:   # the column's type seals the bound value
            s.execute(update(t).where(t.c.id == device_id).values(sms_key=stored))
    return len(clear)
