"""Forwarding with acceptance and accountability: the forwards table (an incident sent to a
station, accepted, handed down, returned, closed or escalated; fleet_server/domain/forwarding.py)
and users.station_id (the station a user of role "station" works at).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('station_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_station_id'), ['station_id'], unique=False)
    op.create_table('forwards',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('incident_id', _ID, nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('station_name', sa.String(length=200), nullable=True),
    sa.Column('agency', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('parent_id', _ID, nullable=True),
    sa.Column('sent_at', sa.Double(), nullable=False),
    sa.Column('sent_by', sa.String(length=64), nullable=False),
    sa.Column('holders', sa.Text(), nullable=False),
    sa.Column('accepted_at', sa.Double(), nullable=True),
    sa.Column('accepted_by', sa.String(length=64), nullable=True),
    sa.Column('ended_at', sa.Double(), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('forwards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_forwards_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_forwards_station_state', ['station_id', 'state'], unique=False)
        batch_op.create_index('ix_forwards_state_sent', ['state', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('forwards', schema=None) as batch_op:
        batch_op.drop_index('ix_forwards_state_sent')
        batch_op.drop_index('ix_forwards_station_state')
        batch_op.drop_index(batch_op.f('ix_forwards_incident_id'))
    op.drop_table('forwards')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_station_id'))
        batch_op.drop_column('station_id')
