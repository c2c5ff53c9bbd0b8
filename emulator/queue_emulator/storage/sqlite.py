"""The data directory's database: one SQLite file in WAL mode, written in one transaction per engine operation.

Why SQLite: a commit in WAL mode is one append to the write-ahead log, which a killed process cannot undo (the
kernel already holds the bytes), and a half-written transaction is rolled back when the database is next opened;
``synchronous=FULL`` adds an fsync per commit for power loss. The file is locked for one process
(``locking_mode=EXCLUSIVE``): two emulators on one directory would each believe they own every message.

What SQLite cannot see is a damaged row: every row carries a CRC-32 that :meth:`SqliteStore.load` verifies, after
``PRAGMA quick_check`` has checked the file's structure; nor a write-ahead log that lost committed frames, which a
commit count kept beside the database (``COUNTER_NAME``) reveals. Any failure stops the start with
:class:`DataDirectoryError`; nothing is ever half-loaded.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
from pathlib import Path
from typing import Any, Literal

from queue_runtime.broker import Broker, BrokerLimits, Clock, ManualClock, SystemClock
from queue_runtime.broker.durable import (
    Changes,
    DurableBroker,
    SavedQueue,
    SavedQueueEntity,
    SavedState,
    SavedSubscription,
    SavedTopic,
    definition_of,
)
from queue_runtime.broker.journal import Journal
from queue_runtime.errors import ConfigurationError, ServiceUnavailableError

from .codec import (
    CONTENT_FIELDS,
    RecordCorrupted,
    checksum,
    decode,
    decode_message,
    encode,
    encode_content,
    encode_state,
)

__all__ = ["DATABASE_NAME", "DataDirectoryError", "SqliteStore", "open_durable_broker"]

DATABASE_NAME = "queue-emulator.sqlite3"
# Beside the database: how many operations were committed, written after each commit. SQLite drops a damaged or
# missing write-ahead log's frames without a word (to it, they were never committed); a count in the database
# lower than this one says that acknowledged operations went missing, and the start stops.
COUNTER_NAME = DATABASE_NAME + "-commits"
_COUNTER = struct.Struct("<QI")  # count, CRC-32 of the count

log = logging.getLogger("queue_emulator.storage")
_APPLICATION_ID = 0x51454D55  # "QEMU": this file is a queue-emulator data directory
_FORMAT = 1

Sync = Literal["normal", "full"]

_SCHEMA = """
CREATE TABLE entities (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,        -- queue, topic, subscription, dead-letter
    parent        INTEGER,              -- a subscription's topic, a dead-letter queue's entity
    definition    BLOB NOT NULL,        -- (created at, options, rules, front extensions, updated at)
    next_sequence INTEGER NOT NULL,
    crc           INTEGER NOT NULL
);
-- A message is two rows: what was sent (written once, and again only when its properties change) and its state
-- (state, delivery count, lock, times: written on every receive and settle). Apart, so that a receive does not
-- rewrite a large body.
CREATE TABLE messages (
    entity      INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    content     BLOB NOT NULL,
    content_crc INTEGER NOT NULL,
    PRIMARY KEY (entity, seq)
);
CREATE TABLE states (
    entity    INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    state     BLOB NOT NULL,
    state_crc INTEGER NOT NULL,
    PRIMARY KEY (entity, seq)
) WITHOUT ROWID;
CREATE TABLE sessions (
    entity     INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    state      BLOB NOT NULL,
    updated_at REAL,
    crc        INTEGER NOT NULL,
    PRIMARY KEY (entity, session_id)
);
CREATE TABLE dedup (
    entity     INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at         REAL NOT NULL,
    crc        INTEGER NOT NULL,
    PRIMARY KEY (entity, message_id)
);
CREATE INDEX dedup_age ON dedup (entity, at);
-- One row, rewritten by every commit: an integer key makes it one small b-tree page.
CREATE TABLE commits (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    count INTEGER NOT NULL
);
INSERT INTO commits VALUES (0, 0);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    crc   INTEGER NOT NULL
);
"""


class DataDirectoryError(ConfigurationError):
    """The data directory cannot be used: damaged, truncated, written by another program or version, or in use."""

    code = "data_directory_error"


def _entity_crc(path: str, kind: str, parent: int | None, definition: bytes, next_sequence: int) -> int:
    return checksum(f"{path}\0{kind}\0{parent}\0{next_sequence}\0".encode(), definition)


def _dedup_crc(message_id: str, seq: int, at: float) -> int:
    return checksum(f"{message_id}\0{seq}\0{at!r}".encode())


def _session_crc(session_id: str, state: bytes, updated_at: float | None) -> int:
    return checksum(f"{session_id}\0{updated_at!r}\0".encode(), state)


class SqliteStore:
    """Writes what each operation changed; reads everything back at start. One instance per data directory."""

    def __init__(self, directory: Path, *, sync: Sync = "normal") -> None:
        self.directory = directory
        self.path = directory / DATABASE_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirectoryError(f"cannot create the data directory {str(directory)!r}: {exc.strerror}") from exc
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DataDirectoryError(f"cannot open {str(self.path)!r}: {exc}") from exc
        try:
            self._prepare(existed, sync)
        except BaseException:
            self._db.close()
            raise
        # path -> id, and the engine objects (entity, dead-letter queue, topic) -> id
        self._ids: dict[str, int] = {}
        self._holders: dict[Any, int] = {}
        self._rows: dict[int, tuple[str, str, int | None, bytes]] = {}
        self._clock_written: float | None = None
        self._commits = 0
        self._counter = -1
        self.closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # ------------------------------------------------------------------ opening

    def _prepare(self, existed: bool, sync: Sync) -> None:
        db = self._db
        try:
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            db.execute(f"PRAGMA synchronous = {sync.upper()}")
            # Some builds (Debian's) zero every freed page; FAST zeroes what costs no extra write.
            db.execute("PRAGMA secure_delete = FAST")
            # Takes the exclusive lock now (a second emulator fails here, not at its first write).
            db.execute("BEGIN IMMEDIATE")
            db.execute("COMMIT")
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise DataDirectoryError(
                    f"the data directory {str(self.directory)!r} is in use by another emulator process"
                ) from exc
            raise self._damaged(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        if mode != "wal":
            raise DataDirectoryError(f"{str(self.path)!r}: SQLite refused WAL mode (journal mode {mode!r})")
        if application_id == 0 and tables == 0 and not existed:
            db.executescript(
                f"BEGIN; {_SCHEMA} PRAGMA application_id = {_APPLICATION_ID}; PRAGMA user_version = {_FORMAT}; "
                "COMMIT;"
            )
            self._put_meta("content_fields", encode(CONTENT_FIELDS))
            return
        if application_id != _APPLICATION_ID:
            raise DataDirectoryError(
                f"{str(self.path)!r} is not a queue-emulator database (another program's SQLite file, or a damaged "
                "header); point --data-dir at an empty or a queue-emulator directory"
            )
        if version != _FORMAT:
            raise DataDirectoryError(
                f"{str(self.path)!r} has storage format {version}; this emulator reads format {_FORMAT}"
            )
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        if problems != ["ok"]:
            raise self._damaged("; ".join(problems))

    def _damaged(self, why: object) -> DataDirectoryError:
        return DataDirectoryError(
            f"the data directory's database {str(self.path)!r} is damaged or truncated ({why}); nothing was loaded. "
            "Restore it from a copy, or move it away to start empty"
        )

    def _put_meta(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?, ?)", (key, value, checksum(key.encode(), value)))

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value, crc FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if checksum(key.encode(), row[0]) != row[1]:
            raise RecordCorrupted(f"meta {key!r}: checksum mismatch")
        return decode(row[0], checksum(row[0]), f"meta {key!r}")

    # ------------------------------------------------------------------ loading

    def load(self) -> SavedState:
        """Everything kept, verified row by row; raises :class:`DataDirectoryError` at the first damaged row."""
        try:
            saved = self._load()
            self._check_commits()
            return saved
        except RecordCorrupted as exc:
            raise self._damaged(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def _load(self) -> SavedState:
        db = self._db
        content_fields = tuple(self._meta("content_fields") or CONTENT_FIELDS)
        unknown = set(content_fields) - set(CONTENT_FIELDS)
        if unknown:
            raise DataDirectoryError(
                f"{str(self.path)!r} was written by a newer emulator (message fields {sorted(unknown)})"
            )
        entities: dict[int, tuple[str, str, int | None, Any, int]] = {}
        for id_, path, kind, parent, definition, next_sequence, crc in db.execute(
            "SELECT id, path, kind, parent, definition, next_sequence, crc FROM entities"
        ):
            if _entity_crc(path, kind, parent, definition, next_sequence) != crc:
                raise RecordCorrupted(f"entity {path!r}: checksum mismatch")
            entities[id_] = (path, kind, parent, decode(definition, checksum(definition), f"entity {path!r}"),
                             next_sequence)
            self._rows[id_] = (path, kind, parent, definition)
        queues: dict[int, SavedQueue] = {
            id_: SavedQueue(next_sequence=row[4]) for id_, row in entities.items() if row[1] != "topic"
        }
        topics: dict[int, SavedTopic] = {}
        for id_, (path, kind, _, definition, next_sequence) in entities.items():
            if kind == "topic":
                created_at, options, _, extensions, updated_at = definition
                topics[id_] = SavedTopic(name=path, created_at=created_at, options=options,
                                         next_sequence=next_sequence, extensions=extensions, updated_at=updated_at)
        for entity, seq, content, content_crc, state, state_crc in db.execute(
            "SELECT m.entity, m.seq, m.content, m.content_crc, s.state, s.state_crc FROM messages AS m "
            "LEFT JOIN states AS s ON s.entity = m.entity AND s.seq = m.seq ORDER BY m.entity, m.seq"
        ):
            where = f"message {seq} of {entities[entity][0]!r}" if entity in entities else f"message {seq}"
            if entity not in entities:
                raise RecordCorrupted(f"{where}: it belongs to no entity")
            if state is None:
                raise RecordCorrupted(f"{where}: its state row is missing")
            message = decode_message(content, content_crc, state, state_crc, content_fields, where)
            if message.sequence_number != seq:
                raise RecordCorrupted(f"{where}: the record names sequence number {message.sequence_number}")
            if entity in topics:
                topics[entity].pending.append(message)
            else:
                queues[entity].messages.append(message)
        for entity, session_id, state, updated_at, crc in db.execute(
            "SELECT entity, session_id, state, updated_at, crc FROM sessions"
        ):
            if entity not in queues or _session_crc(session_id, state, updated_at) != crc:
                raise RecordCorrupted(f"session {session_id!r}: checksum mismatch")
            queues[entity].sessions.append((session_id, state, updated_at))
        for entity, message_id, seq, at, crc in db.execute("SELECT entity, message_id, seq, at, crc FROM dedup"):
            if _dedup_crc(message_id, seq, at) != crc or (entity not in queues and entity not in topics):
                raise RecordCorrupted(f"duplicate-detection entry {message_id!r}: checksum mismatch")
            (queues[entity] if entity in queues else topics[entity]).remembered.append((message_id, seq, at))
        saved = SavedState(clock=self._meta("clock"))
        dead_letters = {row[2]: queues[id_] for id_, row in entities.items() if row[1] == "dead-letter"}
        for id_, row in entities.items():
            if row[1] in ("queue", "subscription") and id_ not in dead_letters:
                raise RecordCorrupted(f"entity {row[0]!r}: its dead-letter queue is missing")
        for id_, (path, kind, parent, definition, _) in entities.items():
            if kind == "queue":
                created_at, options, _, extensions, updated_at = definition
                saved.queues.append(SavedQueueEntity(
                    name=path, created_at=created_at, options=options, queue=queues[id_],
                    dead_letter=dead_letters[id_], extensions=extensions, updated_at=updated_at))
            elif kind == "subscription":
                created_at, options, rules, extensions, updated_at = definition
                if parent not in topics:
                    raise RecordCorrupted(f"subscription {path!r}: its topic is missing")
                name = path.rsplit("/", 1)[1]
                topics[parent].subscriptions.append(
                    SavedSubscription(name=name, created_at=created_at, options=options, rules=list(rules),
                                      queue=queues[id_], dead_letter=dead_letters[id_], extensions=extensions,
                                      updated_at=updated_at)
                )
        saved.topics.extend(topics.values())
        return saved

    def _check_commits(self) -> None:
        row = self._db.execute("SELECT count FROM commits WHERE id = 0").fetchone()
        if row is None or not isinstance(row[0], int):
            raise RecordCorrupted("the commit count is missing")
        self._commits = row[0]
        counter_path = self.directory / COUNTER_NAME
        if counter_path.exists():
            raw = counter_path.read_bytes()
            if len(raw) != _COUNTER.size or checksum(raw[:8]) != _COUNTER.unpack(raw)[1]:
                raise RecordCorrupted(f"{COUNTER_NAME}: damaged; delete it to start with what the database holds")
            acknowledged = _COUNTER.unpack(raw)[0]
            if acknowledged > self._commits:
                raise DataDirectoryError(
                    f"the data directory {str(self.directory)!r} is missing {acknowledged - self._commits} of "
                    f"{acknowledged} acknowledged operations: its write-ahead log ({DATABASE_NAME}-wal) was truncated, "
                    "damaged or removed after a crash, or the machine lost power under --data-sync normal. Nothing "
                    f"was loaded. To start with what the database holds, delete {str(counter_path)!r}"
                )
        self._counter = os.open(counter_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._write_counter()

    def _write_counter(self) -> None:
        os.pwrite(self._counter, _COUNTER.pack(self._commits, checksum(struct.pack("<Q", self._commits))), 0)

    def attach(self, broker: Broker) -> None:
        """Learn which engine objects hold which rows (after the broker was filled from :meth:`load`)."""
        dead_letters = {parent: id_ for id_, (_, kind, parent, _) in self._rows.items() if kind == "dead-letter"}
        for id_, (path, kind, _, _) in self._rows.items():
            if kind == "dead-letter":
                continue
            found = definition_of(broker, path)
            if found is None:
                raise DataDirectoryError(f"{str(self.path)!r}: entity {path!r} did not load")
            self._ids[path] = id_
            self._holders[found.holders[0]] = id_
            if len(found.holders) > 1:
                dead_letter = found.holders[1]
                self._ids[dead_letter.name] = dead_letters[id_]
                self._holders[dead_letter] = dead_letters[id_]

    # ------------------------------------------------------------------ writing

    def commit(self, broker: Broker, changes: Changes) -> None:
        if self.closed:
            raise ServiceUnavailableError("the emulator is stopping: its data directory is closed")
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                self._write(broker, changes)
                db.execute("UPDATE commits SET count = ? WHERE id = 0", (self._commits + 1,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._commits += 1
            if self._counter >= 0:
                try:
                    self._write_counter()
                except OSError as exc:  # the operation is committed: only the crash check is weaker until later
                    log.warning("cannot update %s: %s", COUNTER_NAME, exc.strerror)
        except sqlite3.Error as exc:
            raise ServiceUnavailableError(
                f"the data directory could not record the operation ({exc}); it was not acknowledged",
                details={"data_directory": str(self.directory)},
            ) from exc

    def _write(self, broker: Broker, changes: Changes) -> None:
        db = self._db
        if changes.reset:
            for table in ("messages", "states", "sessions", "dedup", "entities"):
                db.execute(f"DELETE FROM {table}")
            self._ids.clear()
            self._holders.clear()
            self._rows.clear()
        for path in sorted(changes.definitions, key=len):  # a topic before its subscriptions
            self._define(broker, path)
        holders = self._holders
        contents: list[tuple[int, int, bytes, int]] = []
        states: list[tuple[int, int, bytes, int]] = []
        deletes: list[tuple[int, int]] = []
        for holder, touched in changes.messages.items():
            id_ = holders.get(holder)
            if id_ is None:
                continue  # deleted by this operation
            for seq, whole in touched.items():
                message = holder.stored(seq)
                if message is None:
                    deletes.append((id_, seq))
                    continue
                state = encode_state(message)
                states.append((id_, seq, state, checksum(state)))
                if whole:
                    content = encode_content(message)
                    contents.append((id_, seq, content, checksum(content)))
        if deletes:
            db.executemany("DELETE FROM messages WHERE entity = ? AND seq = ?", deletes)
            db.executemany("DELETE FROM states WHERE entity = ? AND seq = ?", deletes)
        if contents:
            db.executemany("INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?)", contents)
        if states:
            db.executemany("INSERT OR REPLACE INTO states VALUES (?, ?, ?, ?)", states)
        for entity, session_ids in changes.sessions.items():
            id_ = holders.get(entity)
            if id_ is None:
                continue
            for session_id in session_ids:
                kept = entity.stored_session(session_id)
                if kept is None:
                    db.execute("DELETE FROM sessions WHERE entity = ? AND session_id = ?", (id_, session_id))
                else:
                    state, updated_at = kept
                    db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)",
                               (id_, session_id, state, updated_at, _session_crc(session_id, state, updated_at)))
        for holder, horizon in changes.forgotten.items():
            id_ = holders.get(holder)
            if id_ is not None:
                db.execute("DELETE FROM dedup WHERE entity = ? AND at < ?", (id_, horizon))
        for holder, entries in changes.dedup.items():
            id_ = holders.get(holder)
            if id_ is not None:
                db.executemany("INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?, ?)",
                               [(id_, mid, seq, at, _dedup_crc(mid, seq, at)) for mid, seq, at in entries])
        for holder in changes.counters:
            id_ = holders.get(holder)
            if id_ is not None:
                path, kind, parent, definition = self._rows[id_]
                count = holder.next_sequence
                db.execute("UPDATE entities SET next_sequence = ?, crc = ? WHERE id = ?",
                           (count, _entity_crc(path, kind, parent, definition, count), id_))
        clock = broker.clock
        if clock.manual and clock.now() != self._clock_written:
            self._clock_written = clock.now()
            self._put_meta("clock", encode(self._clock_written))

    def _define(self, broker: Broker, path: str) -> None:
        db = self._db
        found = definition_of(broker, path)
        id_ = self._ids.get(path)
        if found is None:
            if id_ is not None:
                self._forget(id_)
            return
        definition = encode((found.created_at, found.options, found.rules, found.extensions, found.updated_at))
        if id_ is not None and self._holders.get(found.holders[0]) != id_:
            self._forget(id_)  # deleted and created again since the last write
            id_ = None
        if id_ is not None:
            _, kind, parent, _ = self._rows[id_]
            count = found.holders[0].next_sequence
            db.execute("UPDATE entities SET definition = ?, crc = ? WHERE id = ?",
                       (definition, _entity_crc(path, kind, parent, definition, count), id_))
            self._rows[id_] = (path, kind, parent, definition)
            return
        parent = None
        if found.kind == "subscription":
            parent = self._ids[path.rsplit("/Subscriptions/", 1)[0]]
        id_ = self._insert(path, found.kind, parent, definition, found.holders[0].next_sequence)
        self._ids[path] = id_
        self._holders[found.holders[0]] = id_
        if len(found.holders) > 1:
            dead_letter = found.holders[1]
            dead_letter_id = self._insert(dead_letter.name, "dead-letter", id_, encode(None),
                                          dead_letter.next_sequence)
            self._ids[dead_letter.name] = dead_letter_id
            self._holders[dead_letter] = dead_letter_id

    def _insert(self, path: str, kind: str, parent: int | None, definition: bytes, next_sequence: int) -> int:
        cursor = self._db.execute(
            "INSERT INTO entities (path, kind, parent, definition, next_sequence, crc) VALUES (?, ?, ?, ?, ?, ?)",
            (path, kind, parent, definition, next_sequence,
             _entity_crc(path, kind, parent, definition, next_sequence)),
        )
        assert cursor.lastrowid is not None
        self._rows[cursor.lastrowid] = (path, kind, parent, definition)
        return cursor.lastrowid

    def _forget(self, id_: int) -> None:
        """Delete an entity, its dead-letter queue and (for a topic) its subscriptions, with all their rows."""
        db = self._db
        doomed = [row[0] for row in db.execute(
            "WITH RECURSIVE doomed(id) AS (SELECT ? UNION ALL "
            "SELECT entities.id FROM entities JOIN doomed ON entities.parent = doomed.id) SELECT id FROM doomed",
            (id_,),
        )]
        tables = ("messages", "entity"), ("states", "entity"), ("sessions", "entity"), ("dedup", "entity"), \
            ("entities", "id")
        for table, column in tables:
            db.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in doomed])
        gone = set(doomed)
        for path in [p for p, i in self._ids.items() if i in gone]:
            del self._ids[path]
        for holder in [h for h, i in self._holders.items() if i in gone]:
            del self._holders[holder]
        for i in gone:
            self._rows.pop(i, None)

    def close(self) -> None:
        """Fold the write-ahead log into the database and close (the next start reads one file)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # the log is still valid: the next start replays it
        self._db.close()
        if self._counter >= 0:
            os.close(self._counter)
            self._counter = -1


def open_durable_broker(
    directory: Path,
    *,
    sync: Sync = "normal",
    manual_clock: bool = False,
    limits: BrokerLimits | None = None,
    auto_create: bool = False,
    journal: Journal | None = None,
) -> DurableBroker:
    """Open (or create) a data directory and return a broker holding what it kept. Raises
    :class:`DataDirectoryError` when the directory is damaged or in use."""
    store = SqliteStore(directory, sync=sync)
    try:
        saved = store.load()
        clock: Clock
        if manual_clock:
            # A manual clock only moves by hand: it resumes where it was, never behind what the data records.
            clock = ManualClock(start=saved.clock) if saved.clock is not None else ManualClock()
        else:
            clock = SystemClock()
        broker = DurableBroker(store, clock, limits=limits, auto_create=auto_create, journal=journal)
        broker.load(saved)
    except BaseException:
        store.close()
        raise
    return broker
