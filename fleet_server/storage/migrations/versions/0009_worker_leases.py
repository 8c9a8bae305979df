"""Several workers on one database: leases of the singleton duties (with fencing tokens) and the
login throttle shared by every worker (fleet_server/cluster/, docs/deploy.md "Several workers").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'leases',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('holder', sa.String(128), nullable=False, server_default=''),
        sa.Column('token', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('expires_at', sa.Double(), nullable=False, server_default='0'),
        sa.Column('acquired_at', sa.Double(), nullable=False, server_default='0'),
    )
    op.create_table(
        'login_names',
        sa.Column('key', sa.String(64), primary_key=True),
        sa.Column('failures', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('locked_until', sa.Double(), nullable=False, server_default='0'),
    )
    op.create_table(
        'login_address_failures',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('address', sa.String(64), nullable=False),
        sa.Column('at', sa.Double(), nullable=False),
    )
    op.create_index('ix_login_address_failures_address_at', 'login_address_failures', ['address', 'at'])


def downgrade() -> None:
    op.drop_index('ix_login_address_failures_address_at', table_name='login_address_failures')
    op.drop_table('login_address_failures')
    op.drop_table('login_names')
    op.drop_table('leases')
