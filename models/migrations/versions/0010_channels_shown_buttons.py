"""pushed_buttons: the numbers of buttons pushed to a Zalo chat survive a restart

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 08:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'pushed_buttons',
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('buttons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('pushed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('channel', 'chat_id'),
    )


def downgrade() -> None:
    op.drop_table('pushed_buttons')
