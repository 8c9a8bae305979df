"""Callers' numbers in full: incidents.caller_number (phone, SMS and AML reports from one number
are one caller; output masks it), incidents.channel (how the report came: button, phone, sms,
aml; the monthly report counts by it) and number_pranks, the prank ledger per number.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_number', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=8), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_caller_number'), ['caller_number'], unique=False)
    op.create_table('number_pranks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('number_pranks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_number_pranks_number'), ['number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('number_pranks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_number_pranks_number'))
    op.drop_table('number_pranks')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_caller_number'))
        batch_op.drop_column('channel')
        batch_op.drop_column('caller_number')
