"""device_link_security: how each device's MQTT link is secured, from its heartbeat (`sec`: tls,
tls_unverified, plain), so the center sees a device on plain MQTT (a SIM800 has no TLS).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_security', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('link_security')
