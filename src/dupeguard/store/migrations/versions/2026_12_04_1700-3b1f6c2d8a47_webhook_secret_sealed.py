"""webhook signing secrets can be sealed: webhooks.secret widened to 500 characters

A secret sealed with DUPEGUARD_ENCRYPTION_KEY (``enc:v1:`` + a Fernet token, about 170
characters) does not fit the old 100. The downgrade narrows it again only when no sealed
secret is stored (it would not fit); otherwise it stops with a message saying so.

Revision ID: 3b1f6c2d8a47
Revises: e7e8c9adcd18
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3b1f6c2d8a47"
down_revision = "e7e8c9adcd18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=100),
            type_=sa.String(length=500),
            existing_nullable=False,
        )


def downgrade() -> None:
    too_long = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM webhooks WHERE length(secret) > 100")
    )
    if too_long:
        raise RuntimeError(
            f"{too_long} webhook signing secret(s) are sealed (enc:v1:…) and do not fit the "
            "older schema's 100 characters; restore the backup taken before the upgrade instead"
        )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=500),
            type_=sa.String(length=100),
            existing_nullable=False,
        )
