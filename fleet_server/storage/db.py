"""Engine, sessions and schema migration. SQLite runs in WAL mode (readers never block the
single writer) with a busy timeout, so the API and the ingest can share one file."""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fleet_server.cluster.leases import current_fence

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"^(down_)?revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)


def _head_from_files() -> str | None:
    """The newest migration's revision read from the version files themselves (alembic and its
    template engine cost half a second of a restart): the one revision no other file names as
    its down_revision. None when that is not a single one (a branch): then alembic decides.
    tests/server/test_storage.py checks it against alembic's own head."""
    revisions, parents = set(), set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        for down, rev in _REVISION.findall(f.read_text()):
            (parents if down else revisions).add(rev)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


HEAD = _head_from_files()
MIGRATION_LOCK = 0x5167_0112   # the advisory lock key workers migrate under (PostgreSQL)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only a power cut can lose
    # the last transactions, which the devices' outboxes resend anyway.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _private_sqlite(path: Path) -> None:
    """The database holds password hashes and keys: its directory 0700, the file 0600 before SQLite
    opens it (SQLite gives its -wal and -shm files the database file's mode)."""
    from fleet_server.secrets_files import private_dir, tighten, write_private
    if path.parent != Path("."):
        private_dir(path.parent)
    if not path.exists():
        write_private(path, b"")
    tighten(path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        tighten(extra)


def make_engine(url: str, writer: bool = True) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _private_sqlite(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        if writer:
            # pysqlite defers the write lock to the first write; a writer that read first can then
            # fail with "database is locked" mid-transaction. Take the lock at BEGIN instead, so
            # writers (threads or processes) queue on the busy timeout. Readers keep plain BEGIN
            # and, in WAL mode, never wait for the writer.
            @event.listens_for(engine, "connect")
            def _no_pysqlite_begin(dbapi_conn, _record):
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id: what `alembic_version` holds once upgrade() ran."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """What `alembic_version` holds, or None (a new database, or one alembic never touched)."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no such table yet: upgrade() creates it
            conn.rollback()
            return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Alembic `upgrade head` on this engine (run at every start; a no-op when current). One
    transaction on both engines: a revision that fails leaves the database as it was."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several workers may start at once on one database: one migrates, the others wait
            # for it inside this transaction (the lock ends with it), then find nothing to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class Database:
    """One engine and its session factory. `with db.session() as s:` commits on success and rolls
    back on an exception."""

    def __init__(self, url: str, migrate: bool = True, seal_key: bytes | None = None):
        """seal_key: the key of sealed columns (SMS keys), kept outside the database; when None, a
        SQLite database uses the key file beside it (<dir>/secrets/sms_seal.key, made when missing),
        and any other database can read and write everything but sealed values."""
        from fleet_server.storage.sealed import KEY_FILE, load_or_create, set_key
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate and (HEAD is None or current_revision(self.engine) != HEAD):
            upgrade(self.engine)
        self.read_engine = make_engine(url, writer=False) if self.dialect == "sqlite" else self.engine
        sqlite_file = url.split("///", 1)[-1] if self.dialect == "sqlite" else ""
        if seal_key is None and sqlite_file and sqlite_file != ":memory:":
            seal_key = load_or_create(Path(sqlite_file).parent / "secrets" / KEY_FILE)
        for engine in {self.engine, self.read_engine}:
            set_key(engine, seal_key)   # sealed columns (SMS keys) open only with it
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction. Inside a lease's `fenced()` block (a singleton duty), it first
        checks that this worker still holds that lease (fleet_server/cluster/leases.py)."""
        with self._run(self._factory) as s:
            lease = current_fence.get()
            if lease is not None:
                lease.leases.fence(s, lease.name)
            yield s

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (never waits for the writer on SQLite WAL)."""
        with self._run(self._read_factory) as s:
            yield s

    @contextmanager
    def _run(self, factory) -> Iterator[Session]:
        s = factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
