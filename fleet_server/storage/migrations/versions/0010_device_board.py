"""devices.board: the board a device is built on (esp32_button, picow_button, esp32_tracker, sim),
set at provisioning; a campaign targets by it and the server offers a release only to devices whose
board the release carries. NULL for devices registered before: not known, the device decides.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('board', sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('board')
