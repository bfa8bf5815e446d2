"""SQLAlchemy Core tables of the ledger; the migrations in migrations/ create them.

``tests/evidence/test_migrations.py`` checks that these definitions and the DDL the
migrations produce stay identical. Append-only triggers live in the migration
(see ``migrations/versions/0001_ledger.py``), not here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

metadata = MetaData()

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("run_id", Text, nullable=True),
    Column("ref", BigInteger, nullable=True),
    Column("payload_hash", LargeBinary, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("prev", LargeBinary, nullable=False, unique=True),
    Column("link", LargeBinary, nullable=False, unique=True),
    Column("salt", LargeBinary, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("erased_by", BigInteger, nullable=True),
    CheckConstraint("seq > 0", name="ck_ledger_entries_seq_positive"),
    Index("ix_ledger_entries_kind", "kind"),
    Index("ix_ledger_entries_run_id", "run_id"),
    Index("ix_ledger_entries_ts", "ts"),
    Index("ix_ledger_entries_ref", "ref"),
)

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("link", LargeBinary, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    CheckConstraint("id = 1", name="ck_ledger_head_single_row"),
)
