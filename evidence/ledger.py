"""The ledger: the one write path, reads, verification, checkpoints and proofs.

Every append goes through :meth:`Ledger.append_many`: secrets are redacted, the
payload is canonicalised (RFC 8785), salted and committed by hash *outside* the
lock; inside one transaction holding the write lock the envelope is built, chained
to the head, inserted, and the head and the stored Merkle nodes are updated. A
batch is all-or-nothing.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from evidence import checkpoint as cpmod
from evidence import store, tree_store
from evidence.canonical import canonical_bytes, loads
from evidence.chain import (
    GENESIS,
    ROW_COLUMNS,
    ChainVerifier,
    ExpectedRoot,
    Row,
    VerifyResult,
    entry_bytes,
    link_hash,
    payload_commitment,
)
from evidence.errors import (
    CheckpointMismatch,
    DatabaseUnavailable,
    ErasureRefused,
    Fault,
    InvalidInput,
    LedgerError,
    NotALedger,
)
from evidence.merkle import Frontier, consistency_path, inclusion_path, leaf_hash
from evidence.model import Appended, Entry, Head, NewEntry, Once
from evidence.redact import Redactor

NODE_LEVEL = tree_store.NODE_LEVEL
_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_UNERASABLE = frozenset({"checkpoint", "erasure"})
_COLS = ", ".join(ROW_COLUMNS)
_BLOCK = 1000  # rows fetched per round trip when streaming (~4 MB of 3.9 KB entries)

_SEQ_ZERO = b'"seq":0,"ts":'  # never inside a string value: there a quote is escaped
_SEQ_LEN = len(b'"seq":')  # a prefix ends here; the tail starts after the "0"
# the sequencer's clock on PostgreSQL, in utc_now's format (as scimtrail_append reads it)
_SERVER_NOW = (
    "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)
_APPEND_SQL = (
    "SELECT out_seq, out_ts, out_link FROM scimtrail_append(%s, %b, %b, %s::text[], "
    "%s::text[], %s::text[], %s::bigint[], %b, %b, %b)"
)

Prepared = tuple[str, str, str | None, int | None, bytes, bytes, bytes]
Before = Callable[[Any, int, Frontier, bytes, Sequence[Prepared]], Sequence[Prepared]]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """An open ledger database. Use :meth:`open` (or :meth:`init`) and close it."""

    def __init__(
        self,
        engine: Engine,
        shown: str,
        ledger_id: str,
        redactor: Redactor,
        clock: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        #: The sequencer's clock (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``). Timestamps are
        #: claims, order comes from seq; tests and synthetic ledgers set their own clock.
        self.clock: Callable[[], str] = clock or utc_now
        self.shown = shown
        self.ledger_id = ledger_id
        self.redactor = redactor
        self.dialect = engine.dialect.name
        self._ph = ph = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_entry = (
            f"INSERT INTO ledger_entries ({_COLS}) VALUES ({', '.join([ph] * len(ROW_COLUMNS))})"
        )
        self._insert_node = f"INSERT INTO ledger_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})"
        self._update_head = (
            f"UPDATE ledger_head SET size = {ph}, link = {ph}, frontier = {ph} WHERE id = 1"
        )
        self._clear_payload = (
            f"UPDATE ledger_entries SET body = NULL, salt = NULL, erased_by = {ph} WHERE seq = {ph}"
        )
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        self._read_head = f"SELECT size, link, frontier FROM ledger_head WHERE id = 1{lock}"

    # -- opening -----------------------------------------------------------------
    @classmethod
    def open(
        cls,
        db: str | None = None,
        *,
        redactor: Redactor | None = None,
        clock: Callable[[], str] | None = None,
    ) -> Ledger:
        """Open an existing ledger at the latest schema revision."""
        db = store.resolve_db(db)
        shown = store.display(db)
        engine = store.make_engine(db, must_exist=True)
        try:
            with store.connect(engine, shown) as conn:
                store.check_schema(conn, shown)
                ledger_id = conn.execute(
                    text("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")
                ).scalar_one_or_none()
        except LedgerError:
            engine.dispose()
            raise
        if ledger_id is None:
            engine.dispose()
            raise DatabaseUnavailable(shown, "ledger was never initialised")
        return cls(engine, shown, ledger_id, redactor or Redactor.from_env(), clock)

    @classmethod
    def init(cls, db: str | None = None) -> tuple[str | None, str, str]:
        """Create or upgrade the ledger; return (revision before, after, ledger id)."""
        db = store.resolve_db(db)
        shown = store.display(db)
        engine = store.make_engine(db, must_exist=False)
        try:
            with store.connect(engine, shown) as conn:
                tables = set(inspect(conn).get_table_names())
                if tables and "alembic_version" not in tables:
                    raise NotALedger(shown, "none (it holds other tables)")
            before, after = store.upgrade(engine, shown)
            with engine.begin() as conn:
                ledger_id = conn.execute(
                    text("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")
                ).scalar_one_or_none()
                if ledger_id is None:
                    ledger_id = str(uuid.uuid4())
                    conn.execute(
                        text("INSERT INTO ledger_meta (key, value) VALUES ('ledger_id', :v)"),
                        {"v": ledger_id},
                    )
                    conn.execute(
                        text("INSERT INTO ledger_meta (key, value) VALUES ('created_at', :v)"),
                        {"v": utc_now()},
                    )
        finally:
            engine.dispose()
        return before, after, ledger_id

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def origin(self) -> str:
        return f"scimtrail/{self.ledger_id}"

    # -- writing -----------------------------------------------------------------
    def _prepare(self, e: NewEntry) -> Prepared:
        if not isinstance(e.kind, str) or not _KIND.match(e.kind) or len(e.kind) > 64:
            raise InvalidInput(
                f"entry kind {e.kind!r} is not a dotted lower-case name such as 'note' or "
                "'scim.exchange'"
            )
        if not isinstance(e.actor, str) or not e.actor.strip():
            raise InvalidInput("every entry needs an actor (who or what did this)")
        if e.ref is not None and (not isinstance(e.ref, int) or e.ref < 1):
            raise InvalidInput(f"ref must be a positive seq, not {e.ref!r}")
        redacted, safe = self.redactor.redact_checked(e.payload)
        body = canonical_bytes(redacted, known_safe=safe)
        salt = secrets.token_bytes(16)
        return (e.kind, e.actor, e.run_id, e.ref, salt, body, payload_commitment(salt, body))

    def append(
        self,
        kind: str,
        payload: Any,
        *,
        actor: str,
        run_id: str | None = None,
        ref: int | None = None,
    ) -> Appended:
        """Append one entry durably; returns its seq, timestamp and link."""
        return self.append_many([NewEntry(kind, payload, actor, run_id, ref)])[0]

    def append_many(self, entries: Sequence[NewEntry]) -> list[Appended]:
        """Append a batch in one transaction: all of it or none of it."""
        prepared = [self._prepare(e) for e in entries]
        if not prepared:
            return []
        return self._write(prepared)

    def append_once(self, entries: Sequence[NewEntry], key: Callable[[Any], Any]) -> Once:
        """Append the entries no stored entry of the same kind already records; atomically.

        ``key(payload)`` names what an entry records (a commit sha, a report's hash); it
        sees payloads as stored, i.e. redacted. Stored entries are read before the lock is
        taken; once it is held, only the entries appended since are read again, so two
        collectors racing on the same item record it once. Entries repeating a key within
        ``entries`` are skipped too.
        """
        kinds = sorted({e.kind for e in entries})
        if not kinds:
            return Once([], [], [])
        known, scanned = self._recorded(kinds, key)
        fresh: list[tuple[Any, NewEntry]] = []
        prepared: list[Prepared] = []
        skipped: list[NewEntry] = []
        for e in entries:
            p = self._prepare(e)
            k = key(loads(p[5]))  # the payload exactly as it will be stored
            if k in known:
                skipped.append(e)
            else:
                known.add(k)
                fresh.append((k, e))
                prepared.append(p)
        kept = list(fresh)

        def recheck(
            cur: Any, size: int, frontier: Frontier, link: bytes, batch: Sequence[Prepared]
        ) -> list[Prepared]:
            if size == scanned:
                return list(batch)
            late = self._keys(cur, kinds, scanned, size, key)
            out = []
            kept.clear()
            for (k, e), p in zip(fresh, batch, strict=True):
                if k in late:
                    skipped.append(e)
                else:
                    kept.append((k, e))
                    out.append(p)
            return out

        appended = self._write(prepared, before=recheck) if prepared else []
        return Once(appended, [e for _, e in kept], skipped)

    def recorded_keys(self, kind: str, key: Callable[[Any], Any]) -> set[Any]:
        """``key(payload)`` of every stored entry of ``kind`` (erased payloads left out)."""
        return self._recorded([kind], key)[0]

    def _recorded(self, kinds: Sequence[str], key: Callable[[Any], Any]) -> tuple[set[Any], int]:
        with store.connect(self.engine, self.shown) as conn:
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute("SELECT size FROM ledger_head WHERE id = 1")
                size = cur.fetchone()[0]
                return self._keys(cur, kinds, 0, size, key), size
            finally:
                cur.close()

    def _keys(
        self, cur: Any, kinds: Sequence[str], after: int, upto: int, key: Callable[[Any], Any]
    ) -> set[Any]:
        """``key`` of every stored payload of ``kinds`` with ``after < seq <= upto``."""
        ph = self._ph
        cur.execute(
            f"SELECT body FROM ledger_entries WHERE kind IN ({', '.join([ph] * len(kinds))}) "
            f"AND seq > {ph} AND seq <= {ph}",
            (*kinds, after, upto),
        )
        found: set[Any] = set()
        while block := cur.fetchmany(_BLOCK):
            for (body,) in block:
                if body is not None:  # erased: nothing left to compare
                    payload = loads(bytes(body))
                    if isinstance(payload, dict):
                        found.add(key(payload))
        return found

    def _write(
        self,
        prepared: Sequence[Prepared],
        after: Callable[[Any, list[Appended]], None] | None = None,
        before: Before | None = None,
    ) -> list[Appended]:
        """Chain and insert ``prepared`` in one transaction holding the write lock.

        The transaction runs on the driver's connection directly (the pool still hands
        it out and resets it): an append is a handful of statements, and going through
        SQLAlchemy's execution layer for each cost a measurable share of a single append.
        ``before(cursor, size, frontier, link, prepared)`` runs once the lock is held and
        returns the batch to write (a checkpoint adds itself, ``append_once`` drops what
        another writer recorded meanwhile); ``after(cursor, appended)`` runs before the
        commit.
        """
        driver_integrity = self.engine.dialect.loaded_dbapi.IntegrityError
        try:
            with store.connect(self.engine, self.shown) as base:
                dbapi: Any = base.connection.driver_connection
                cur = dbapi.cursor()
                try:
                    if self.dialect == "sqlite":
                        cur.execute("BEGIN IMMEDIATE")
                        out = self._chain(cur, prepared, before)
                        if after is not None:
                            after(cur, out)
                        cur.execute("COMMIT")
                    elif before is None and after is None:
                        out = self._append_in_server(dbapi, cur, prepared)
                    else:
                        # not in pipeline mode, which saved a round trip but deadlocked on
                        # an entry of ~16 MB (psycopg#685); these writes are the rare ones
                        out = self._chain(cur, prepared, before)
                        if after is not None:
                            after(cur, out)
                        dbapi.commit()
                except BaseException:
                    with contextlib.suppress(Exception):
                        if self.dialect == "sqlite":
                            if dbapi.in_transaction:
                                cur.execute("ROLLBACK")
                        else:
                            dbapi.rollback()
                    raise
                finally:
                    cur.close()
                return out
        except (IntegrityError, driver_integrity) as exc:
            raise LedgerError(
                f"ledger {self.shown} refused the append: {_reason(exc)}",
                "another writer may not be using scimtrail's lock; run `scimtrail ledger verify`",
            ) from exc
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(self.shown, _reason(exc)) from exc
        except Exception as exc:
            if _is_driver_error(exc):
                raise DatabaseUnavailable(self.shown, str(exc).splitlines()[0]) from exc
            raise

    def _append_in_server(
        self, dbapi: Any, cur: Any, prepared: Sequence[Prepared]
    ) -> list[Appended]:
        """PostgreSQL: chain ``prepared`` with ``scimtrail_append`` and commit, one round trip.

        The client sends each envelope's bytes before ``"seq":`` (and, with a clock of
        its own, the timestamp after it); the server holds the lock only while it
        chains and commits (migrations/versions/0002_pg_append.py).
        """
        server_clock = self.clock is utc_now
        ts = "" if server_clock else self.clock()
        prefixes = []
        for kind, actor, run_id, ref, _salt, _body, phash in prepared:
            whole = entry_bytes(0, ts, kind, actor, run_id, ref, phash)
            prefixes.append(whole[: whole.rindex(_SEQ_ZERO) + _SEQ_LEN])
        tail = None  # after the seq: the timestamp and the format version, alike for all
        if not server_clock:
            whole = entry_bytes(0, ts, "", "", None, None, b"")
            tail = whole[whole.rindex(_SEQ_ZERO) + _SEQ_LEN + 1 :]
        columns = [list(c) for c in zip(*prepared, strict=True)]
        params = (
            None if server_clock else ts,
            tail,
            prefixes,
            *columns[:4],
            columns[6],
            columns[4],
            columns[5],
        )
        # One statement in autocommit: the server commits (synced) before it answers, so
        # the lock is never held while the client runs. Not in pipeline mode: psycopg's
        # pipeline can deadlock sending one very large message (psycopg#685).
        dbapi.autocommit = True
        try:
            cur.execute(_APPEND_SQL, params)
            rows = cur.fetchall()
        finally:
            dbapi.autocommit = False
        return [Appended(seq, t, bytes(link).hex()) for seq, t, link in rows]

    def _now(self, cur: Any) -> str:
        """The time of a write, read under the lock: the server's clock on PostgreSQL.

        With a clock of its own (tests, replays) the ledger uses that one everywhere.
        """
        if self.dialect == "sqlite" or self.clock is not utc_now:
            return self.clock()
        cur.execute(_SERVER_NOW)
        return str(cur.fetchone()[0])

    def _chain(
        self,
        cur: Any,
        prepared: Sequence[Prepared],
        before: Before | None,
    ) -> list[Appended]:
        """Inside the lock: read the head, build and hash the envelopes, insert, move the head."""
        cur.execute(self._read_head)
        size, link, fbytes = cur.fetchone()
        frontier = Frontier.from_bytes(size, bytes(fbytes))
        link = bytes(link)
        if before is not None:
            prepared = before(cur, size, frontier, link, prepared)
            if not prepared:
                return []
        ts = self._now(cur)
        rows: list[tuple[Any, ...]] = []
        nodes: list[tuple[int, int, bytes]] = []
        out: list[Appended] = []
        seq = size
        for kind, actor, run_id, ref, salt, body, phash in prepared:
            seq += 1
            entry = entry_bytes(seq, ts, kind, actor, run_id, ref, phash)
            leaf = leaf_hash(entry)
            new_link = link_hash(link, leaf)
            rows.append(
                (seq, ts, kind, actor, run_id, ref, phash, entry, leaf, link, new_link, salt,
                 body, None)
            )  # fmt: skip
            for level, idx, h in frontier.append(leaf):
                if level >= NODE_LEVEL:
                    nodes.append((level, idx, h))
            link = new_link
            out.append(Appended(seq, ts, new_link.hex()))
        cur.executemany(self._insert_entry, rows)
        if nodes:
            cur.executemany(self._insert_node, nodes)
        cur.execute(self._update_head, (seq, link, frontier.to_bytes()))
        return out

    def erase(self, seq: int, *, reason: str, actor: str) -> Appended:
        """Erase an entry's payload (privacy law); the erasure is itself an entry."""
        if not reason.strip():
            raise InvalidInput("an erasure needs a reason (e.g. 'GDPR art. 17 request #123')")
        target = self.get(seq)
        if target.kind in _UNERASABLE:
            raise ErasureRefused(f"entry {seq} is a {target.kind} entry and cannot be erased")
        if target.erased:
            raise ErasureRefused(f"entry {seq} was already erased by entry {target.erased_by}")
        prepared = self._prepare(
            NewEntry(
                "erasure",
                {"erased_seq": seq, "reason": reason, "payload_hash": target.payload_hash},
                actor,
                ref=seq,
            )
        )

        def clear(cur: Any, out: list[Appended]) -> None:
            cur.execute(self._clear_payload, (out[0].seq, seq))

        return self._write([prepared], after=clear)[0]

    def checkpoint(self, key: Any, *, actor: str = "scimtrail") -> cpmod.Checkpoint:
        """Sign the current head and record the checkpoint as the next entry."""
        signed: list[cpmod.Checkpoint] = []

        def sign_head(
            cur: Any, size: int, frontier: Frontier, link: bytes, batch: Sequence[Prepared]
        ) -> list[Prepared]:
            if size == 0:
                raise InvalidInput("the ledger is empty: there is nothing to checkpoint")
            cp = cpmod.sign(key, self.origin, size, frontier.root(), self._now(cur), link)
            signed.append(cp)
            payload = cp.as_dict() | {"key": cpmod.fingerprint(key.public_key())}
            return [*batch, self._prepare(NewEntry("checkpoint", payload, actor))]

        self._write([], before=sign_head)
        return signed[0]

    # -- reading -----------------------------------------------------------------
    def head(self) -> Head:
        with store.connect(self.engine, self.shown) as conn:
            size, link, fbytes = conn.exec_driver_sql(
                "SELECT size, link, frontier FROM ledger_head WHERE id = 1"
            ).one()
        root = Frontier.from_bytes(size, bytes(fbytes)).root()
        return Head(size, root.hex(), bytes(link).hex())

    def get(self, seq: int) -> Entry:
        found = list(self.entries(seq=seq))
        if not found:
            raise InvalidInput(f"there is no entry with seq {seq} in {self.shown}")
        return found[0]

    def entries(
        self,
        *,
        seq: int | None = None,
        kind: str | None = None,
        run_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> Generator[Entry, None, None]:
        """Entries in seq order, filtered; streams (constant memory).

        The iterator holds a database connection until exhausted: wrap it in
        ``contextlib.closing`` when you may stop early.
        """
        where: list[str] = []
        params: dict[str, Any] = {}
        for col, op, value in (
            ("seq", "=", seq),
            ("kind", "=", kind),
            ("run_id", "=", run_id),
            ("ts", ">=", since),
            ("ts", "<", until),
            ("seq", ">", after_seq),
        ):
            if value is not None:
                name = f"p{len(params)}"
                where.append(f"{col} {op} :{name}")
                params[name] = value
        sql = (
            "SELECT seq, ts, kind, actor, run_id, ref, payload_hash, link, body, erased_by "
            "FROM ledger_entries"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with store.connect(self.engine, self.shown) as conn:
            result = conn.execution_options(stream_results=True, yield_per=2000).execute(
                text(sql), params
            )
            with result:  # closes the server-side cursor even when the caller stops early
                yield from self._entries_of(result)

    @staticmethod
    def _entries_of(result: Any) -> Iterator[Entry]:
        for s, ts, k, actor, run, ref, ph, link, body, erased_by in result:
            yield Entry(
                s, ts, k, actor, run, ref,
                loads(body) if body is not None else None,
                bytes(ph).hex(), bytes(link).hex(), erased_by,
            )  # fmt: skip

    def rows(self, start: int = 1, end: int | None = None) -> Generator[Row, None, None]:
        """Stored rows in seq order from ``start`` to ``end`` inclusive, streaming.

        Reads through the driver's own cursor in blocks of ``_BLOCK`` rows (SQLite
        ``fetchmany``; a server-side cursor in binary format on PostgreSQL, which saves
        the hex round trip of ``bytea``): verify and export spend most of their time here.
        """
        ph = self._ph
        sql = f"SELECT {_COLS} FROM ledger_entries WHERE seq >= {ph}"
        params: tuple[int, ...] = (start,)
        if end is not None:
            sql += f" AND seq <= {ph}"
            params += (end,)
        sql += " ORDER BY seq"
        make = Row._make
        with store.connect(self.engine, self.shown) as conn:
            dbapi: Any = conn.connection.driver_connection
            if self.dialect == "postgresql":
                cur = dbapi.cursor(name=f"scimtrail_rows_{uuid.uuid4().hex}", binary=True)
                cur.itersize = _BLOCK
            else:
                cur = dbapi.cursor()
            try:
                cur.execute(sql, params)
                while block := cur.fetchmany(_BLOCK):
                    for r in block:
                        yield make(r)
            finally:
                cur.close()  # the pool rolls the read transaction back on return

    def checkpoints(self) -> list[cpmod.Checkpoint]:
        return [
            cpmod.parse(e.payload["note"], f"checkpoint entry {e.seq}")
            for e in self.entries(kind="checkpoint")
            if e.payload is not None
        ]

    # -- verification ------------------------------------------------------------
    def verify(
        self,
        checkpoints: Iterable[cpmod.Checkpoint] = (),
        pubkey: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> VerifyResult:
        """Recompute every hash, link and payload commitment; raise on the first fault."""
        expected = []
        for cp in checkpoints:
            if cp.origin != self.origin:
                raise CheckpointMismatch(
                    Fault.REWRITTEN,
                    f"checkpoint is for ledger {cp.origin!r}, this is {self.origin!r}",
                )
            if pubkey is not None:
                cpmod.verify(cp, pubkey)
            expected.append(ExpectedRoot(cp.size, cp.root, f"checkpoint of size {cp.size}"))
        verifier = ChainVerifier(
            expected, checkpoint_check=cpmod.in_chain_checker(pubkey, self.origin)
        )
        with store.connect(self.engine, self.shown) as conn:
            head_size = conn.exec_driver_sql("SELECT size FROM ledger_head WHERE id = 1").scalar()
        with contextlib.closing(self.rows()) as stored:
            rows: Iterable[Row] = stored if progress is None else _counting(stored, progress)
            result = verifier.run(rows)
        if head_size is not None and head_size > result.size:
            raise CheckpointMismatch(
                Fault.TRUNCATED,
                f"the head records {head_size} entries but only {result.size} are stored",
                seq=result.size + 1,
            )
        return result

    # -- proofs ------------------------------------------------------------------
    def subtree(self, start: int, end: int, conn: Connection | None = None) -> bytes:
        """MTH of leaves [start, end) (0-based leaf indexes; seq = index + 1)."""
        if conn is None:
            with store.connect(self.engine, self.shown) as c:
                return tree_store.subtree(c, start, end)
        return tree_store.subtree(conn, start, end)

    def size(self) -> int:
        return self.head().size

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        if not 1 <= seq <= size:
            raise InvalidInput(f"seq {seq} is not covered by a tree of size {size}")
        if size > self.size():
            raise InvalidInput(f"the ledger has fewer than {size} entries")
        with store.connect(self.engine, self.shown) as conn:
            return inclusion_path(seq - 1, size, lambda a, b: tree_store.subtree(conn, a, b))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        if not 0 < old <= new:
            raise InvalidInput(f"no consistency proof from size {old} to size {new}")
        if new > self.size():
            raise InvalidInput(f"the ledger has fewer than {new} entries")
        with store.connect(self.engine, self.shown) as conn:
            return consistency_path(old, new, lambda a, b: tree_store.subtree(conn, a, b))

    def root_at(self, size: int) -> bytes:
        with store.connect(self.engine, self.shown) as conn:
            return tree_store.subtree(conn, 0, size)

    def row(self, seq: int) -> Row:
        found = list(self.rows(seq, seq))
        if not found:
            raise InvalidInput(f"there is no entry with seq {seq} in {self.shown}")
        return found[0]


def _counting(rows: Iterable[Row], progress: Callable[[int], None]) -> Iterator[Row]:
    n = 0
    for r in rows:
        yield r
        n += 1
        if n % 10000 == 0:
            progress(10000)
    progress(n % 10000)


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _is_driver_error(exc: Exception) -> bool:
    mod = type(exc).__module__
    return mod.startswith(("sqlite3", "psycopg"))


__all__ = ["GENESIS", "Ledger", "NewEntry", "utc_now"]
