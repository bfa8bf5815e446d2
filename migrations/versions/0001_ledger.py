"""The evidence ledger: entries, Merkle nodes, head, meta; append-only triggers.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

# An UPDATE of a ledger row is allowed only when it clears a payload (body and salt
# to NULL) that a committed erasure entry names, and changes nothing else.
_ERASURE_ONLY = """
    NEW.seq = OLD.seq AND NEW.ts = OLD.ts AND NEW.kind = OLD.kind AND NEW.actor = OLD.actor
    AND NEW.run_id IS NOT DISTINCT FROM OLD.run_id AND NEW.ref IS NOT DISTINCT FROM OLD.ref
    AND NEW.payload_hash = OLD.payload_hash AND NEW.entry = OLD.entry AND NEW.leaf = OLD.leaf
    AND NEW.prev = OLD.prev AND NEW.link = OLD.link
    AND OLD.body IS NOT NULL AND NEW.body IS NULL AND NEW.salt IS NULL
    AND NEW.erased_by IS NOT NULL AND NEW.erased_by > OLD.seq
    AND EXISTS (SELECT 1 FROM ledger_entries e
                WHERE e.seq = NEW.erased_by AND e.kind = 'erasure' AND e.ref = OLD.seq)
"""
_APPEND_ONLY = ("ledger_entries", "ledger_nodes", "ledger_meta")


def upgrade() -> None:
    op.create_table(
        "ledger_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("ref", sa.BigInteger, nullable=True),
        sa.Column("payload_hash", sa.LargeBinary, nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("prev", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("link", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("salt", sa.LargeBinary, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("erased_by", sa.BigInteger, nullable=True),
        sa.CheckConstraint("seq > 0", name="ck_ledger_entries_seq_positive"),
    )
    op.create_index("ix_ledger_entries_kind", "ledger_entries", ["kind"])
    op.create_index("ix_ledger_entries_run_id", "ledger_entries", ["run_id"])
    op.create_index("ix_ledger_entries_ts", "ledger_entries", ["ts"])
    op.create_index("ix_ledger_entries_ref", "ledger_entries", ["ref"])
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("link", sa.LargeBinary, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ledger_head_single_row"),
    )
    op.execute(
        sa.text(
            "INSERT INTO ledger_head (id, size, link, frontier) VALUES (1, 0, :z, :e)"
        ).bindparams(
            sa.bindparam("z", bytes(32), type_=sa.LargeBinary),
            sa.bindparam("e", b"", type_=sa.LargeBinary),
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    cond = _ERASURE_ONLY.replace("IS NOT DISTINCT FROM", "IS")
    op.execute(
        f"""CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
        WHEN NOT ({cond})
        BEGIN SELECT RAISE(ABORT, 'scimtrail ledger is append-only: UPDATE of ledger_entries refused'); END"""
    )
    for table in _APPEND_ONLY:
        if table != "ledger_entries":
            op.execute(
                f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                BEGIN SELECT RAISE(ABORT, 'scimtrail ledger is append-only: UPDATE of {table} refused'); END"""
            )
        op.execute(
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'scimtrail ledger is append-only: DELETE from {table} refused'); END"""
        )


def _postgres_triggers() -> None:
    op.execute(
        """CREATE FUNCTION scimtrail_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'scimtrail ledger is append-only: % of % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$"""
    )
    op.execute(
        f"""CREATE FUNCTION scimtrail_entries_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF {_ERASURE_ONLY} THEN RETURN NEW; END IF;
          RAISE EXCEPTION 'scimtrail ledger is append-only: UPDATE of ledger_entries refused'
            USING ERRCODE = 'insufficient_privilege';
        END $$"""
    )
    op.execute(
        """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION scimtrail_entries_update()"""
    )
    for table in _APPEND_ONLY:
        if table != "ledger_entries":
            op.execute(
                f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                FOR EACH ROW EXECUTE FUNCTION scimtrail_refuse()"""
            )
        op.execute(
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION scimtrail_refuse()"""
        )
        op.execute(
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION scimtrail_refuse()"""
        )


def downgrade() -> None:
    # Dropping a ledger destroys evidence; the triggers refuse it row by row anyway.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    for table in ("ledger_head", "ledger_nodes", "ledger_entries", "ledger_meta"):
        op.drop_table(table)
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS scimtrail_entries_update()")
        op.execute("DROP FUNCTION IF EXISTS scimtrail_refuse()")
