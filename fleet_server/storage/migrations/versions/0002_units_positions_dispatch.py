"""units, unit positions and dispatch's journal (dispatch_incidents, dispatch_assignments) join
the Alembic chain.

Until this revision the units module created these four tables itself at start (SQLAlchemy
`create_all`), so a database that ran the server before holds them already, with rows. Such a
table is adopted as it is: it must have every column and the unique tracker binding of the
definition below (or the upgrade stops with the reason, touching nothing), and a missing index
is added. An absent table is created. Either way the result is the same schema.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _units() -> list:
    return [
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('callsign', sa.String(length=32), nullable=False),
        sa.Column('agency', sa.String(length=16), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('home_station', sa.String(length=120), nullable=False),
        sa.Column('home_lat', sa.Integer(), nullable=True),
        sa.Column('home_lon', sa.Integer(), nullable=True),
        sa.Column('capabilities', sa.Text(), nullable=False),
        sa.Column('device_id', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('status_at', sa.Double(), nullable=True),
        sa.Column('last_lat', sa.Integer(), nullable=True),
        sa.Column('last_lon', sa.Integer(), nullable=True),
        sa.Column('last_ts', sa.Double(), nullable=True),
        sa.Column('last_acc', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        # Unnamed, as the units module's create_all made it: adopted and new tables stay alike.
        sa.UniqueConstraint('device_id'),
    ]


def _unit_positions() -> list:
    return [
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('unit_id', sa.String(length=32), nullable=False),
        sa.Column('ts', sa.Double(), nullable=False),
        sa.Column('received_at', sa.Double(), nullable=False),
        sa.Column('lat', sa.Integer(), nullable=False),
        sa.Column('lon', sa.Integer(), nullable=False),
        sa.Column('acc', sa.Integer(), nullable=True),
        sa.Column('spd', sa.Integer(), nullable=True),
        sa.Column('hdg', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    ]


def _dispatch_incidents() -> list:
    return [
        sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('lat', sa.Integer(), nullable=False),
        sa.Column('lon', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('buttons', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('feedback_sent', sa.Text(), nullable=False),
        sa.Column('open', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    ]


def _dispatch_assignments() -> list:
    return [
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('incident', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=32), nullable=False),
        sa.Column('device', sa.String(length=32), nullable=False),
        sa.Column('by', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('ordered_at', sa.Double(), nullable=False),
        sa.Column('lat', sa.Integer(), nullable=False),
        sa.Column('lon', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('note', sa.String(length=120), nullable=False),
        sa.Column('answered_at', sa.Double(), nullable=True),
        sa.Column('onscene_at', sa.Double(), nullable=True),
        sa.Column('why', sa.String(length=80), nullable=True),
        sa.Column('near_sent', sa.Boolean(), nullable=False),
        sa.Column('history', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    ]


# name -> (its columns and constraints, its indexes: name -> columns, unique column sets)
TABLES = {
    'units': (_units, {}, [['device_id']]),
    'unit_positions': (_unit_positions, {'ix_unit_positions_unit_ts': ['unit_id', 'ts'],
                                         'ix_unit_positions_ts': ['ts']}, []),
    'dispatch_incidents': (_dispatch_incidents, {}, []),
    'dispatch_assignments': (_dispatch_assignments, {'ix_dispatch_assignments_incident': ['incident']}, []),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, (items, indexes, uniques) in TABLES.items():
        if name in present:
            _check_adoptable(inspector, name, items(), uniques)
            have = {ix['name'] for ix in inspector.get_indexes(name)}
        else:
            op.create_table(name, *items())
            have = set()
        for ix, cols in indexes.items():
            if ix not in have:
                op.create_index(ix, name, cols, unique=False)


def _check_adoptable(inspector, name: str, items: list, uniques: list) -> None:
    """A table made by the units module's create_all has exactly these columns and unique keys;
    anything less is not ours to adopt, and guessing would lose rows."""
    wanted = {c.name for c in items if isinstance(c, sa.Column)}
    found = {c['name'] for c in inspector.get_columns(name)}
    missing = sorted(wanted - found)
    if missing:
        raise RuntimeError("cannot adopt table %r: it lacks the column(s) %s" % (name, ", ".join(missing)))
    have = [sorted(u['column_names']) for u in inspector.get_unique_constraints(name)]
    have += [sorted(ix['column_names']) for ix in inspector.get_indexes(name) if ix.get('unique')]
    for cols in uniques:
        if sorted(cols) not in have:
            raise RuntimeError("cannot adopt table %r: it lacks the unique key on %s" % (name, ", ".join(cols)))


def downgrade() -> None:
    for name, (_items, indexes, _uniques) in reversed(list(TABLES.items())):
        for ix in indexes:
            op.drop_index(ix, table_name=name)
        op.drop_table(name)
