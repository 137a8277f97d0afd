"""invite_attempt: failed `/start CODE` attempts, limited per identity and address; invite.revoked_at;
resident group codes made before this get an expiry (limits.resident_code_days, 90 days by default)

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02 16:00:00.000000
"""
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0015'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default of limits.resident_code_days: an existing group code keeps working that long from now.
RESIDENT_CODE_DAYS = 90
# The demo's codes (bot/demo.py) are left without an expiry: they exist only in demo data.
DEMO_CODES = ('HUNG05', 'TT3DAN')


def upgrade() -> None:
    op.create_table('invite_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_invite_attempt_identity', 'invite_attempt', ['channel', 'external_id', 'at'], unique=False)
    op.create_index('ix_invite_attempt_address', 'invite_attempt', ['address', 'at'], unique=False)
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    invite = sa.table('invite', sa.column('role', sa.String), sa.column('max_uses', sa.Integer),
                      sa.column('code', sa.String), sa.column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime()))
    op.execute(invite.update()
               .where(invite.c.role == 'resident', invite.c.max_uses == 0, invite.c.expires_at.is_(None),
                      invite.c.code.not_in(DEMO_CODES))
               .values(expires_at=datetime.now(UTC) + timedelta(days=RESIDENT_CODE_DAYS)))


def downgrade() -> None:
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    op.drop_index('ix_invite_attempt_address', table_name='invite_attempt')
    op.drop_index('ix_invite_attempt_identity', table_name='invite_attempt')
    op.drop_table('invite_attempt')
