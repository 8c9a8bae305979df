"""sms_replay_windows: the SMS gateway's per-device replay window, kept until now in a JSON file
beside the database (the gateway imports that file once at start, see fleet_server/sms/replay_file.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_replay_windows',
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('boot', sa.BigInteger(), nullable=False),
    sa.Column('top', sa.BigInteger(), nullable=False),
    sa.Column('mask', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )


def downgrade() -> None:
    op.drop_table('sms_replay_windows')
