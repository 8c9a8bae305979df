"""Engine, sessions and schema migration. SQLite runs in WAL mode (readers never block the
single writer) with a busy timeout, so the API and the ingest can share one file."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only a power cut can lose
    # the last transactions, which the devices' outboxes resend anyway.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, writer: bool = True) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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


def upgrade(engine: Engine) -> None:
    """Alembic `upgrade head` on this engine (run at every start; a no-op when current)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    """One engine and its session factory. `with db.session() as s:` commits on success and rolls
    back on an exception."""

    def __init__(self, url: str, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate:
            upgrade(self.engine)
        self.read_engine = make_engine(url, writer=False) if self.dialect == "sqlite" else self.engine
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction."""
        with self._run(self._factory) as s:
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
