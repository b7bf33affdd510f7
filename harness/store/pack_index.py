"""A persistent index of one pack folder: key -> newest record, without scanning the packs.

Scanning every pack on every open costs a JSON parse per record: minutes at ten million
entries, paid by every process. Here ``index.sqlite`` beside the packs maps each key to its
records (pack, offset, header) and remembers how far each pack is indexed. Writers add their
records as they append them; an open only compares each pack's size with its indexed length
(one ``stat`` per pack) and scans what is new: the records of a writer killed between append
and index, an older cache, or a pack rewritten by ``cache prune`` (a pack that shrank, or whose
bytes at its indexed length are no record, is indexed again from its start; a pack gone loses its
entries). A damaged or unreadable index file is rebuilt from the packs; where SQLite cannot
open one at all (a filesystem without locks) the same index lives in memory for the process.

The index only says where to look: every read still checks the record's head, its header
bytes against the indexed header, and its CRC (:func:`harness.store.cache.read_payload`).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

INDEX_NAME = "index.sqlite"
# A record is found by a 64-bit hash of (kind, profile, key); its header, checked on lookup,
# tells the rare records sharing a hash apart. Packs are numbered (their names are long).
SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, indexed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    pack INTEGER NOT NULL, offset INTEGER NOT NULL, h INTEGER NOT NULL, header TEXT NOT NULL, length INTEGER NOT NULL,
    PRIMARY KEY (pack, offset)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_hash ON records (h);
CREATE TABLE IF NOT EXISTS unusable (
    pack INTEGER NOT NULL, offset INTEGER NOT NULL, problem TEXT NOT NULL, PRIMARY KEY (pack, offset)) WITHOUT ROWID;
"""
BATCH = 10_000  # records inserted per statement batch while scanning


def _hash(kind: str, key: str, profile: str) -> int:
    digest = hashlib.blake2b(f"{kind}|{profile}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _names(header: dict) -> tuple[str, str, str]:
    return header["kind"], header["key"], header.get("profile", "")


#: A pack's records from a byte offset: (offset, end, header, payload length, problem, is the tail).
Scan = Callable[[Path, int], Iterator[tuple[int, int, dict, int, "str | None", bool]]]


class PackIndex:
    """The index of one folder's packs, kept current with ``scan``."""

    def __init__(self, folder: Path, scan: Scan):
        self.folder, self._scan = folder, scan
        self.db, self.persistent = self._connect()
        self._guarded(self.catch_up)

    def _guarded(self, action: Callable[[], Any]) -> Any:
        """``action`` on the index; when the file fails it (damaged beyond what opening it showed,
        locked past the timeout, a filesystem that lost it), ``action`` again on an index in memory
        built from the packs: slower, never wrong."""
        try:
            return action()
        except sqlite3.DatabaseError:
            if not self.persistent:
                raise
        self.db.close()
        self.db, self.persistent = _memory(), False
        self.catch_up()
        return action()

    def _delete_files(self) -> bool:
        path = self.folder / INDEX_NAME
        try:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def _connect(self) -> tuple[sqlite3.Connection, bool]:
        """The folder's index file (rebuilt when damaged), else one in memory; and which it is."""
        path = self.folder / INDEX_NAME
        for attempt in range(2):
            try:
                if not self.folder.is_dir():
                    break
                db = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SCHEMA)
                db.execute("SELECT count(*) FROM packs").fetchone()
                return db, True
            except sqlite3.OperationalError:  # cannot open, lock or write it: never delete it for that
                break
            except sqlite3.DatabaseError:  # damaged: it only caches what the packs say, so start it again
                if attempt or not self._delete_files():
                    break
        return _memory(), False

    def catch_up(self) -> None:
        """Index what the packs hold beyond what the index says (one stat per pack)."""
        sizes = {p.name: p.stat().st_size for p in self.folder.glob("*.pack") if p.is_file()}
        indexed = {name: size for name, size in self.db.execute("SELECT name, indexed FROM packs")}
        stale = [(name, start) for name, size in sizes.items() if size != (start := indexed.get(name, 0))]
        gone = [name for name in indexed if name not in sizes]
        if not stale and not gone:
            return
        with self._transaction():
            for name in gone:
                self._forget(name)
            for name, start in stale:
                if sizes[name] < start or not self._index_from(name, start):
                    self._forget(name)  # shrunk or rewritten: index it again from its start
                    self._index_from(name, 0)
        if self.persistent:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a large catch-up leaves no large log behind

    def _pack_id(self, name: str, end: int) -> int:
        """The pack's number, its indexed length raised to ``end``."""
        self.db.execute("INSERT INTO packs (name, indexed) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET indexed = "
                        "max(indexed, excluded.indexed)", (name, end))
        return self.db.execute("SELECT id FROM packs WHERE name = ?", (name,)).fetchone()[0]

    def _index_from(self, name: str, start: int) -> bool:
        """Index a pack's records from ``start``; False when no record starts there (rewritten)."""
        pack, indexed, rows = self._pack_id(name, start), start, []
        for offset, end, header, length, problem, tail in self._scan(self.folder / name, start):
            if tail:
                if offset == start and start and "no record head" in (problem or ""):
                    return False
                break  # a partial record of a killed or live writer: indexed once complete
            indexed = end
            if problem is not None:
                self.db.execute("INSERT OR REPLACE INTO unusable VALUES (?, ?, ?)", (pack, offset, problem))
                continue
            rows.append((pack, offset, _hash(*_names(header)), json.dumps(header, sort_keys=True), length))
            if len(rows) == BATCH:
                self._insert(rows)
        self._insert(rows)
        self._pack_id(name, indexed)
        return True

    def _insert(self, rows: list[tuple]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)", rows)
        rows.clear()

    def _forget(self, name: str) -> None:
        row = self.db.execute("SELECT id FROM packs WHERE name = ?", (name,)).fetchone()
        if row is not None:
            for table, column in (("records", "pack"), ("unusable", "pack"), ("packs", "id")):
                self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", row)

    def add(self, pack: str, offset: int, end: int, header: dict, length: int) -> None:
        """A record this process just appended to ``pack`` from ``offset`` to ``end`` (payload ``length``)."""
        self._guarded(lambda: self._add(pack, offset, end, header, length))

    def _add(self, pack: str, offset: int, end: int, header: dict, length: int) -> None:
        with self._transaction():
            self._insert([(self._pack_id(pack, end), offset, _hash(*_names(header)), json.dumps(header, sort_keys=True),
                           length)])

    def lookup(self, kind: str, key: str, profile: str = "") -> tuple[str, int, dict, int] | None:
        """(pack, offset, header, payload length) of the newest record of a key: the last in the
        newest pack (pack names start with their creation time)."""
        return self._guarded(lambda: self._lookup(kind, key, profile))

    def _lookup(self, kind: str, key: str, profile: str) -> tuple[str, int, dict, int] | None:
        rows = self.db.execute("SELECT p.name, r.offset, r.header, r.length FROM records r JOIN packs p ON p.id = r.pack "
                               "WHERE r.h = ? ORDER BY p.name DESC, r.offset DESC", (_hash(kind, key, profile),))
        for name, offset, text, length in rows:
            header = json.loads(text)
            if _names(header) == (kind, key, profile):
                return name, offset, header, length
        return None

    def unusable(self) -> list[tuple[str, int, str]]:
        """(pack, offset, problem) of the complete records whose header is invalid."""
        query = "SELECT p.name, u.offset, u.problem FROM unusable u JOIN packs p ON p.id = u.pack ORDER BY p.name, u.offset"
        return self._guarded(lambda: list(self.db.execute(query)))

    def _transaction(self):
        return _Transaction(self.db)

    def refresh(self) -> None:
        """Index what other processes appended since (see :meth:`catch_up`)."""
        self._guarded(self.catch_up)


def _memory() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    db.executescript(SCHEMA)
    return db


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): one write lock for a batch of statements."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *_) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
