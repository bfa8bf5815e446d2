"""PostgreSQL: ``scimtrail_append``, the chaining step of an append run in the server.

A hash chain serialises its writers: the head row stays locked from the read of the
previous link until the commit is synced. When the client does the chaining, that
locked section includes a round trip to the client and back, and on a busy machine
a descheduled client holding the lock stalls every other writer (a lock convoy).
This function takes the lock, builds each envelope from the bytes the client
prepared (everything before ``"seq":``, and after it the timestamp), hashes the
leaf and the link, inserts the entries and the completed Merkle nodes and moves the
head; the caller runs it as one autocommit statement (the server commits, synced,
before it answers), so the lock is held by the server alone. The bytes are those of
docs/ledger-format.md, the same as the Python path builds
(``evidence.chain.entry_bytes``); ``ledger verify`` recomputes them in Python. SQLite needs none of this: there the writer is the database.

Revision ID: 0002_pg_append
Revises: 0001_ledger
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002_pg_append"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

# NODE_LEVEL 6 (evidence/tree_store.py): nodes of subtrees of >= 64 leaves are stored.
_APPEND = r"""
CREATE FUNCTION scimtrail_append(
    p_ts text, p_tail bytea, p_prefix bytea[], p_kind text[], p_actor text[],
    p_run text[], p_ref bigint[], p_phash bytea[], p_salt bytea[], p_body bytea[]
) RETURNS TABLE (out_seq bigint, out_ts text, out_link bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_size bigint; v_link bytea; v_front bytea; v_ts text; v_tail bytea;
    v_entry bytea; v_leaf bytea; v_new bytea; v_node bytea; v_idx bigint; v_level int;
    n int; v_entries bytea[]; v_leaves bytea[]; v_prevs bytea[]; v_links bytea[];
BEGIN
    SELECT size, link, frontier INTO v_size, v_link, v_front
      FROM ledger_head WHERE id = 1 FOR UPDATE;
    IF p_ts IS NULL THEN  -- the sequencer's clock: read under the lock, so ts follows seq
        v_ts := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        v_tail := convert_to(',"ts":"' || v_ts || '","v":1}', 'UTF8');
    ELSE
        v_ts := p_ts;
        v_tail := p_tail;
    END IF;
    n := coalesce(array_length(p_prefix, 1), 0);
    FOR i IN 1 .. n LOOP
        v_entry := p_prefix[i] || convert_to((v_size + i)::text, 'UTF8') || v_tail;
        v_leaf := sha256('\x00'::bytea || v_entry);
        v_new := sha256('\x02'::bytea || v_link || v_leaf);
        v_entries[i] := v_entry; v_leaves[i] := v_leaf; v_prevs[i] := v_link; v_links[i] := v_new;
        -- the Merkle frontier (RFC 6962): merge the perfect subtrees this leaf completes
        v_node := v_leaf; v_idx := v_size + i - 1; v_level := 0;
        WHILE v_idx & 1 = 1 LOOP
            v_node := sha256('\x01'::bytea || substring(v_front FROM length(v_front) - 31)
                             || v_node);
            v_front := substring(v_front FROM 1 FOR length(v_front) - 32);
            v_idx := v_idx >> 1;
            v_level := v_level + 1;
            IF v_level >= 6 THEN
                INSERT INTO ledger_nodes (level, idx, hash) VALUES (v_level, v_idx, v_node);
            END IF;
        END LOOP;
        v_front := v_front || v_node;
        v_link := v_new;
    END LOOP;
    -- one INSERT for the batch: row by row costs a statement execution each
    INSERT INTO ledger_entries (seq, ts, kind, actor, run_id, ref, payload_hash, entry, leaf,
                                prev, link, salt, body, erased_by)
    SELECT v_size + o, v_ts, k, a, r, rf, ph, e, l, pv, lk, sl, b, NULL
      FROM unnest(p_kind, p_actor, p_run, p_ref, p_phash, v_entries, v_leaves, v_prevs,
                  v_links, p_salt, p_body) WITH ORDINALITY AS x(k, a, r, rf, ph, e, l, pv, lk,
                                                                sl, b, o);
    RETURN QUERY SELECT v_size + o, v_ts, lk FROM unnest(v_links) WITH ORDINALITY AS y(lk, o);
    v_size := v_size + n;
    UPDATE ledger_head SET size = v_size, link = v_link, frontier = v_front WHERE id = 1;
END $$
"""
_SIGNATURE = "scimtrail_append(text, bytea, bytea[], text[], text[], text[], bigint[], bytea[], bytea[], bytea[])"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(_APPEND)  # as written: its ':' are JSON, not bind parameters


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
