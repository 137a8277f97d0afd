"""person: consent to the privacy notice (when, which version of the notice)

Persons who were there before this migration have no consent recorded: they are asked once, at
their next message, with the same notice a person joining reads (docs/decisions.md).

Revision ID: 0014
Revises: 0015 (re-chained after main's 0015 at the merge)
Create Date: 2026-12-02 16:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0014'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consented_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('consent_version')
        batch_op.drop_column('consented_at')
