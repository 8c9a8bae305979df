"""The configured database brought to the newest schema, copied while the server writes to it,
and put back from such a copy.

SQLite: sqlite3's online backup API, which copies one consistent snapshot of the database (every
transaction committed before the copy began, none half-way) while the server keeps writing in
WAL mode. PostgreSQL: pg_dump's custom format (one snapshot transaction) and pg_restore. Backup
files hold password hashes and callers' numbers: they are created 0600 and never readable by
anyone else, not even for a moment."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from fleet_server.i18n import N_, Message, _
from fleet_server.secrets_files import FILE_MODE, tighten
from fleet_server.storage.db import current_revision, head_revision, make_engine, upgrade

PG_DUMP_TIMEOUT_S = 3600


class OpsError(Exception):
    """An operation refused or failed; the message (a Message: English in str(e), the reader's
    language on the command line) says why."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None   # None: a new, empty database
    after: str

    def __str__(self) -> str:
        if self.before == self.after:
            return _("already at head {revision}").format(revision=self.after)
        return _("upgraded from {before} to {after}").format(before=self.before or _("an empty database"), after=self.after)


def db_upgrade(url: str) -> Upgrade:
    """Alembic to head on the database at `url`; which revision it was at and which it is at now."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        return Upgrade(before, current_revision(engine))
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise OpsError(Message(N_("{url}: an in-memory SQLite database has nothing to back up or restore"), url=url))
    return Path(u.database)


def _private_file(path: Path) -> int:
    """A new file at `path`, 0600 from its creation, opened for writing (the caller closes it)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def backup(url: str, dest: Path) -> str | None:
    """A consistent copy of the database at `url` in `dest` (0600), taken while it is in use;
    returns the copy's schema revision. Refuses to overwrite an existing file."""
    dest = Path(dest)
    if dest.exists():
        raise OpsError(Message(N_("{file}: exists; a backup never overwrites a file"), file=dest))
    if not dest.parent.is_dir():
        raise OpsError(Message(N_("{dir}: no such directory"), dir=dest.parent))
    part = _temp_beside(dest)
    try:
        path = _sqlite_path(url)
        if path is not None:
            _sqlite_backup(path, part)
            revision = revision_of(f"sqlite:///{part}")   # the copy's own, exactly
        else:
            revision = revision_of(url)   # pg_dump's snapshot follows; a migration never runs beside a backup
            _pg_dump(url, part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return revision


def _sqlite_backup(src: Path, part: Path) -> None:
    if not src.is_file():
        raise OpsError(Message(N_("{file}: no such database"), file=src))
    os.close(_private_file(part))
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(part)
        try:
            # One step (pages=-1): the whole database from one read snapshot. In WAL mode the
            # server's writers go on meanwhile; what they commit after the start is not in it.
            source.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode=DELETE")   # one self-contained file, no -wal beside it
        finally:
            target.close()
    finally:
        source.close()
    tighten(part)


def _pg_tool(name: str) -> str:
    """pg_dump / pg_restore: SIAGA_PG_BIN's, else the PATH's, else the newest under /usr/lib/postgresql."""
    where = os.environ.get("SIAGA_PG_BIN")
    if where and (Path(where) / name).is_file():
        return str(Path(where) / name)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return str(versions[-1])
    raise OpsError(Message(N_("{program} not found: install the PostgreSQL client (apt-get install "
                             "postgresql-client)"), program=name))


def _pg_args(url: str) -> tuple[list[str], dict]:
    """libpq options for `url`, the password in the environment (never on a command line)."""
    u = make_url(url)
    if not u.get_backend_name().startswith("postgresql"):
        raise OpsError(Message(N_("{backend}: only SQLite and PostgreSQL databases are backed up"),
                              backend=u.get_backend_name()))
    host = u.host or u.query.get("host")   # ?host=/var/run/postgresql: the local socket (peer auth)
    if isinstance(host, tuple) and len(host) > 1:
        # A multi-host URL (a Patroni cluster: ?host=a:5432&host=b:5432&target_session_attrs=...):
        # the whole list as libpq conninfo, so the tools reach the node that takes writes.
        hosts, ports = zip(*(h.rsplit(":", 1) if ":" in h else (h, "") for h in host))
        conninfo = [f"dbname={u.database}", f"host={','.join(hosts)}", f"port={','.join(ports)}"]
        conninfo += [f"{k}={u.query[k]}" for k in ("target_session_attrs", "connect_timeout") if k in u.query]
        args = [f"--dbname={' '.join(conninfo)}"]
    else:
        args = [f"--dbname={u.database}"]
        if host:
            args.append(f"--host={host if isinstance(host, str) else host[0]}")
        if u.port:
            args.append(f"--port={u.port}")
    if u.username:
        args.append(f"--username={u.username}")
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return args + ["--no-password"], env


def _run(argv: list[str], env: dict, **kw) -> None:
    try:
        r = subprocess.run(argv, env=env, stderr=subprocess.PIPE, timeout=PG_DUMP_TIMEOUT_S, **kw)
    except subprocess.TimeoutExpired:
        raise OpsError(Message(N_("{program} did not finish within {seconds} s"), program=Path(argv[0]).name,
                              seconds=PG_DUMP_TIMEOUT_S)) from None
    if r.returncode != 0:
        raise OpsError(Message(N_("{program} failed ({code}): {error}"), program=Path(argv[0]).name,
                              code=r.returncode, error=r.stderr.decode(errors="replace").strip()))


def _pg_dump(url: str, part: Path) -> None:
    args, env = _pg_args(url)
    fd = _private_file(part)
    with os.fdopen(fd, "wb") as out:
        # Custom format (-Fc): compressed, restored selectively by pg_restore; one snapshot.
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", *args], env, stdout=out)


def restore(src: Path, url: str) -> Upgrade:
    """The backup `src` put into the database at `url` (an SQLite file is replaced as a whole; a
    PostgreSQL database gets the dump's objects, existing ones dropped first), then brought to
    head: a backup of an older version opens on this one. Run it with the server stopped."""
    src = Path(src)
    if not src.is_file():
        raise OpsError(Message(N_("{file}: no such backup"), file=src))
    path = _sqlite_path(url)
    if path is not None:
        _sqlite_restore(src, path)
    else:
        args, env = _pg_args(url)
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", *args, str(src)], env)
    return db_upgrade(url)


def _sqlite_restore(src: Path, path: Path) -> None:
    with open(src, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise OpsError(Message(N_("{file}: not an SQLite database (a PostgreSQL backup goes to a PostgreSQL URL)"),
                                  file=src))
    make_engine(f"sqlite:///{path}").dispose()   # the file and its directory private, as the server makes them
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(path, timeout=30)
        try:
            source.backup(target, pages=-1)   # under the target's write lock: no reader sees half of it
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    finally:
        source.close()
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        tighten(f)


def revision_of(url: str) -> str | None:
    """The schema revision of an existing database (None: no schema)."""
    engine = create_engine(url) if url.startswith("sqlite") else make_engine(url, writer=False)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


__all__ = ["OpsError", "Upgrade", "backup", "db_upgrade", "head_revision", "restore", "revision_of"]
