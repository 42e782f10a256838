"""duplicate jobs, record sets, merges, links, audit log

Revision ID: e3689631c007
Revises: beea753af4f0
Create Date: 2026-11-25 13:02:37.680548
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e3689631c007"
down_revision = "beea753af4f0"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("matched_ids", sa.JSON(), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audit_log_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_listing", ["workspace_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_rule", ["workspace_id", "rule_id", "kind"], unique=False
        )

    op.create_table(
        "not_duplicates",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("record_a", sa.String(length=36), nullable=False),
        sa.Column("record_b", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_not_duplicates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "record_a", "record_b", name=op.f("pk_not_duplicates")
        ),
    )
    op.create_table(
        "duplicate_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("matching_rule_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("records_scanned", sa.Integer(), nullable=False),
        sa.Column("pairs_found", sa.Integer(), nullable=False),
        sa.Column("sets_found", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_duplicate_jobs_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_duplicate_jobs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_jobs")),
    )
    with op.batch_alter_table("duplicate_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_duplicate_jobs_listing", ["workspace_id", "created_at"], unique=False
        )

    op.create_table(
        "merges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("primary_id", sa.String(length=36), nullable=False),
        sa.Column("duplicate_ids", sa.JSON(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_merges_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_merges_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
    )
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.create_index("ix_merges_listing", ["workspace_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_merges_primary_id"), ["primary_id"], unique=False)

    op.create_table(
        "duplicate_record_sets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("max_similarity", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_duplicate_record_sets_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["duplicate_jobs.id"],
            name=op.f("fk_duplicate_record_sets_job_id_duplicate_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_duplicate_record_sets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_record_sets")),
    )
    with op.batch_alter_table("duplicate_record_sets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_record_sets_job_id"), ["job_id"], unique=False
        )
        batch_op.create_index(
            "ix_duplicate_record_sets_queue",
            ["workspace_id", "status", "max_similarity"],
            unique=False,
        )

    op.create_table(
        "record_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_record_links_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["records.id"],
            name=op.f("fk_record_links_target_id_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_record_links_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_links")),
        sa.UniqueConstraint(
            "record_id", "target_id", "label", name=op.f("uq_record_links_record_id")
        ),
    )
    with op.batch_alter_table("record_links", schema=None) as batch_op:
        batch_op.create_index("ix_record_links_target", ["target_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_record_links_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "duplicate_pairs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("set_id", sa.String(length=36), nullable=False),
        sa.Column("primary_id", sa.String(length=36), nullable=False),
        sa.Column("duplicate_id", sa.String(length=36), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("matched_fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["duplicate_record_sets.id"],
            name=op.f("fk_duplicate_pairs_set_id_duplicate_record_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_pairs")),
    )
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_pairs_set", ["set_id", "similarity"], unique=False)

    op.create_table(
        "duplicate_set_members",
        sa.Column("set_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_duplicate_set_members_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["duplicate_record_sets.id"],
            name=op.f("fk_duplicate_set_members_set_id_duplicate_record_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("set_id", "record_id", name=op.f("pk_duplicate_set_members")),
    )
    with op.batch_alter_table("duplicate_set_members", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_set_members_record", ["record_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("duplicate_set_members", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_set_members_record")

    op.drop_table("duplicate_set_members")
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_pairs_set")

    op.drop_table("duplicate_pairs")
    with op.batch_alter_table("record_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_links_workspace_id"))
        batch_op.drop_index("ix_record_links_target")

    op.drop_table("record_links")
    with op.batch_alter_table("duplicate_record_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_record_sets_queue")
        batch_op.drop_index(batch_op.f("ix_duplicate_record_sets_job_id"))

    op.drop_table("duplicate_record_sets")
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merges_primary_id"))
        batch_op.drop_index("ix_merges_listing")

    op.drop_table("merges")
    with op.batch_alter_table("duplicate_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_jobs_listing")

    op.drop_table("duplicate_jobs")
    op.drop_table("not_duplicates")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_rule")
        batch_op.drop_index("ix_audit_log_listing")

    op.drop_table("audit_log")
