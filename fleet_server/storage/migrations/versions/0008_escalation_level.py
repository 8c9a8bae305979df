"""incidents.escalation_level: how far up the escalation ladder an unacknowledged incident went
(0 none, 1 the operator's supervisor, 2 the center head; fleet_server/domain/lifecycle.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
    # Incidents escalated by the one-step rule of earlier servers stood at the first rung.
    op.execute("UPDATE incidents SET escalation_level = 1 WHERE escalated_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('escalation_level')
