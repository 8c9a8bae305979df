"""Many rows in one statement on PostgreSQL: `INSERT INTO t (cols) SELECT * FROM unnest(%s::type[],
...)`, one array per column. The statement's text is the same for every batch, so the driver
caches (and, after a few runs, prepares) it, and the rows travel as arrays in one round trip.
SQLAlchemy's multi-row VALUES, by contrast, renders a new statement of 200 x 15 parameters per
batch that psycopg converts afresh every time (a fifth of a drained alarm's server time, profiled).

Other dialects (SQLite) take the generic path: None from insert_rows means "not done here"."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

_PG = postgresql.dialect()


@lru_cache(maxsize=64)
def _statement(table: Table, columns: tuple[str, ...], returning: tuple[str, ...]) -> tuple[str, tuple]:
    """The statement, and each column's Python type (an array holds one type: a whole-number
    time in a float column is sent as a float)."""
    arrays = ", ".join(f"%s::{table.c[c].type.compile(dialect=_PG)}[]" for c in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return sql, tuple(table.c[c].type.python_type for c in columns)


def _column(values: list, py: type) -> list:
    if all(v is None or type(v) is py for v in values):
        return values
    return [v if v is None or type(v) is py else py(v) for v in values]


def insert_rows(conn: Connection, table: Table, rows: list[dict], returning: tuple[str, ...] = ()) -> list | None:
    """Insert rows (dicts with the same keys) in one statement on PostgreSQL; the RETURNING
    columns' rows come back (in no promised order: match them by a key). None on any other
    dialect, or when the rows do not share their keys: the caller takes its generic path."""
    if conn.dialect.name != "postgresql" or not rows:
        return None
    columns = tuple(rows[0])
    if any(len(r) != len(columns) or r.keys() != rows[0].keys() for r in rows):
        return None
    sql, types = _statement(table, columns, returning)
    params = tuple(_column([r[c] for r in rows], py) for c, py in zip(columns, types))
    result = conn.exec_driver_sql(sql, params)
    return [tuple(r) for r in result] if returning else []
