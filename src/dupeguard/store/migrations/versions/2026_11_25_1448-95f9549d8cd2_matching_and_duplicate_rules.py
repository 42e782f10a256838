"""matching and duplicate rules

Standard rules for the workspaces that exist already are added by
services.rules.ensure_standard_rules, which dupeguard.store.migrate.upgrade callers
run after upgrading (it needs the rule definitions and the blocking-key backfill).

Revision ID: 95f9549d8cd2
Revises: e3689631c007
Create Date: 2026-11-25 14:48:55.780955
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "95f9549d8cd2"
down_revision = "e3689631c007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duplicate_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("matching_rule_ids", sa.JSON(), nullable=False),
        sa.Column("action_on_create", sa.String(length=16), nullable=False),
        sa.Column("action_on_edit", sa.String(length=16), nullable=False),
        sa.Column("report", sa.Boolean(), nullable=False),
        sa.Column("include_deleted", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_duplicate_rules_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_duplicate_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_rules")),
        sa.UniqueConstraint("entity_id", "name", name=op.f("uq_duplicate_rules_entity_id")),
    )
    with op.batch_alter_table("duplicate_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_rules_entity_id"), ["entity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_duplicate_rules_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "matching_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("against_entity_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("expression", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["against_entity_id"],
            ["entities.id"],
            name=op.f("fk_matching_rules_against_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_matching_rules_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_matching_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_rules")),
        sa.UniqueConstraint("entity_id", "name", name=op.f("uq_matching_rules_entity_id")),
    )
    with op.batch_alter_table("matching_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_rules_against_entity_id"), ["against_entity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_matching_rules_entity_id"), ["entity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_matching_rules_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("duplicate_record_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_duplicate_record_sets_rule_id"), ["rule_id"], unique=False
        )

    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("block_keys", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.alter_column("block_keys", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_column("block_keys")

    with op.batch_alter_table("duplicate_record_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_record_sets_rule_id"))
        batch_op.drop_column("rule_id")

    with op.batch_alter_table("matching_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_rules_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_matching_rules_entity_id"))
        batch_op.drop_index(batch_op.f("ix_matching_rules_against_entity_id"))

    op.drop_table("matching_rules")
    with op.batch_alter_table("duplicate_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_rules_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_duplicate_rules_entity_id"))

    op.drop_table("duplicate_rules")
