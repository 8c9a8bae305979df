"""ota_campaigns, ota_campaign_devices: firmware rollouts in waves and each device's progress
(fleet_server/releases/campaigns.py, docs/ota.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ota_campaigns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('steps', sa.String(length=80), nullable=False),
    sa.Column('trial_s', sa.Integer(), nullable=False),
    sa.Column('gate_s', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('wave_started', sa.Double(), nullable=False),
    sa.Column('halted_why', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ota_campaign_devices',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('why', sa.String(length=120), nullable=True),
    sa.Column('fw_from', sa.String(length=24), nullable=True),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['ota_campaigns.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'device_id')
    )


def downgrade() -> None:
    op.drop_table('ota_campaign_devices')
    op.drop_table('ota_campaigns')
