"""The data directory's file: damage of every kind is found at start, with a clear error, and nothing is loaded;
a directory holds one emulator at a time; values keep their exact types."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from queue_emulator.amqp.protocol.types import Long, Symbol, Timestamp, UByte
from queue_emulator.storage import COUNTER_NAME, DATABASE_NAME, DataDirectoryError, SqliteStore, open_durable_broker
from queue_emulator.storage.codec import RecordCorrupted, decode, encode

from queue_runtime import QueueOptions
from queue_runtime.broker import BrokerMessage
from queue_runtime.errors import ConfigurationError, ServiceUnavailableError


def filled(directory: Path, count: int = 20) -> None:
    broker = open_durable_broker(directory)
    try:
        broker.create_queue("q", QueueOptions(duplicate_detection_window=timedelta(minutes=5)))
        broker.create_queue("s", QueueOptions(requires_session=True))
        for start in range(0, count, 500):
            broker.send("q", [BrokerMessage(body=b"x" * 100, message_id=f"m{i}")
                              for i in range(start, min(count, start + 500))])
        lease = broker.accept_session("s", "one")
        assert lease is not None
        broker.set_session_state("s", "one", lease.lock_token, b"state")
    finally:
        broker.close()


def sql(directory: Path, statement: str, *args: object) -> None:
    db = sqlite3.connect(directory / DATABASE_NAME)
    with db:
        db.execute(statement, args)
    db.close()


def test_a_directory_that_holds_nothing_yet_is_created(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "data"
    broker = open_durable_broker(directory)
    broker.close()
    assert (directory / DATABASE_NAME).is_file()
    again = open_durable_broker(directory)
    assert again.queue_names() == []
    again.close()


@pytest.mark.parametrize(
    ("damage", "names"),
    [
        ("flip a bit of message 7", "message 7 of 'q'"),
        ("UPDATE states SET state_crc = state_crc + 1 WHERE seq = 3", "message 3 of 'q'"),
        ("DELETE FROM states WHERE seq = 5", "message 5 of 'q': its state row is missing"),
        ("UPDATE entities SET next_sequence = 1 WHERE path = 'q'", "entity 'q'"),
        ("UPDATE sessions SET state = x'00'", "session 'one'"),
        ("UPDATE dedup SET seq = 99 WHERE message_id = 'm4'", "'m4'"),
        ("DELETE FROM entities WHERE path = 'q'", "belongs to no entity"),
        ("DELETE FROM entities WHERE path = 'q/$DeadLetterQueue'", "entity 'q': its dead-letter queue is missing"),
    ],
)
def test_a_damaged_row_stops_the_start_and_names_the_row(tmp_path: Path, damage: str, names: str) -> None:
    filled(tmp_path)
    if damage.startswith("flip"):
        db = sqlite3.connect(tmp_path / DATABASE_NAME)
        [content] = db.execute("SELECT content FROM messages WHERE seq = 7").fetchone()
        flipped = content[:10] + bytes([content[10] ^ 1]) + content[11:]
        with db:
            db.execute("UPDATE messages SET content = ? WHERE seq = 7", (flipped,))
        db.close()
    else:
        sql(tmp_path, damage)
    with pytest.raises(DataDirectoryError, match="damaged or truncated") as caught:
        open_durable_broker(tmp_path)
    assert names in caught.value.message
    assert "nothing was loaded" in caught.value.message
    assert isinstance(caught.value, ConfigurationError)


def test_a_truncated_file_is_found(tmp_path: Path) -> None:
    filled(tmp_path, count=2000)  # several pages
    path = tmp_path / DATABASE_NAME
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DataDirectoryError, match="damaged or truncated"):
        open_durable_broker(tmp_path)


def test_random_bytes_over_a_page_are_found(tmp_path: Path) -> None:
    filled(tmp_path, count=2000)
    path = tmp_path / DATABASE_NAME
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(os.urandom(3000))
    with pytest.raises(DataDirectoryError, match="damaged or truncated"):
        open_durable_broker(tmp_path)


def test_a_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(DataDirectoryError, match="damaged or truncated"):
        open_durable_broker(tmp_path)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    sql(tmp_path, "CREATE TABLE customers (name TEXT)")
    with pytest.raises(DataDirectoryError, match="not a queue-emulator database"):
        open_durable_broker(tmp_path)


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    filled(tmp_path)
    sql(tmp_path, "PRAGMA user_version = 99")
    with pytest.raises(DataDirectoryError, match="storage format 99"):
        open_durable_broker(tmp_path)


def test_one_emulator_per_directory(tmp_path: Path) -> None:
    first = open_durable_broker(tmp_path)
    try:
        with pytest.raises(DataDirectoryError, match="in use by another emulator"):
            open_durable_broker(tmp_path)
    finally:
        first.close()
    open_durable_broker(tmp_path).close()  # free again once the first one closed


def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    filled(tmp_path)
    sql(tmp_path, "UPDATE messages SET content_crc = 0 WHERE seq = 1")
    result = subprocess.run(
        [sys.executable, "-m", "queue_emulator", "--data-dir", str(tmp_path), "--port", "0", "--no-amqp", "--no-admin"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # no banner: it never started
    lines = result.stderr.strip().splitlines()
    assert lines == [f"queue-emulator: the data directory's database {str(tmp_path / DATABASE_NAME)!r} is damaged or "
                     "truncated (message 1 of 'q': checksum mismatch); nothing was loaded. Restore it from a copy, or "
                     "move it away to start empty"]


def test_values_keep_their_exact_types(tmp_path: Path) -> None:
    properties = {
        "long": Long(7), "symbol": Symbol("s"), "stamp": Timestamp(1_700_000_000_000), "ubyte": UByte(3),
        "uuid": uuid.UUID(int=5), "when": datetime(2026, 1, 2, tzinfo=UTC), "decimal": Decimal("1.5"),
        "bytes": b"\x00", "none": None, "float": 1.25, "bool": True,
    }
    broker = open_durable_broker(tmp_path)
    broker.create_queue("q")
    broker.send("q", [BrokerMessage(body=b"b", application_properties=dict(properties),
                                    extensions={"amqp": {"annotations": {Symbol("x-opt-custom"): Long(1)}}})])
    broker.close()
    broker = open_durable_broker(tmp_path)
    [message] = broker.peek("q")
    broker.close()
    assert message.application_properties == properties
    assert {k: type(v) for k, v in message.application_properties.items()} == {k: type(v) for k, v in
                                                                               properties.items()}
    [(key, value)] = message.extensions["amqp"]["annotations"].items()
    assert (type(key), type(value)) == (Symbol, Long)


def test_a_stored_value_cannot_name_code_to_run() -> None:
    evil = b"cos\nsystem\n(S'echo hacked'\ntR."  # pickle protocol 0: os.system("echo hacked")
    import zlib

    with pytest.raises(RecordCorrupted, match="not a value type"):
        decode(evil, zlib.crc32(evil), "a row")
    assert decode(encode({"ok": 1}), zlib.crc32(encode({"ok": 1})), "a row") == {"ok": 1}


def test_a_write_that_fails_is_not_acknowledged_and_is_written_by_the_next_operation(tmp_path: Path) -> None:
    broker = open_durable_broker(tmp_path)
    broker.create_queue("q")
    store = broker.store
    assert isinstance(store, SqliteStore)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full", for real
    with pytest.raises(ServiceUnavailableError, match="could not record the operation") as caught:
        broker.send("q", [BrokerMessage(body=b"x" * 200_000)])
    assert caught.value.transient
    store._db.execute("PRAGMA max_page_count = 1000000")
    broker.send("q", [BrokerMessage(body=b"small")])  # writes what the failed operation changed as well
    broker.close()
    reopened = open_durable_broker(tmp_path)
    assert [m.body[:5] for m in reopened.peek("q", max_count=10)] == [b"xxxxx", b"small"]
    reopened.close()


CRASH = """
import os, sys
from pathlib import Path
from queue_emulator.storage import open_durable_broker
from queue_runtime.broker import BrokerMessage
broker = open_durable_broker(Path(sys.argv[1]))
broker.create_queue("q")
for i in range(50):
    broker.send("q", [BrokerMessage(body=b"m%d" % i)])
os._exit(0)  # no close, as after kill -9: the write-ahead log holds the commits
"""


def test_a_write_ahead_log_that_lost_commits_after_a_crash_is_found(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    subprocess.run([sys.executable, "-c", CRASH, str(directory)], check=True, timeout=60)
    wal = directory / (DATABASE_NAME + "-wal")
    assert wal.stat().st_size > 0
    intact = tmp_path / "intact"
    shutil.copytree(directory, intact)
    recovered = open_durable_broker(intact)  # an intact log: SQLite's recovery brings back every commit
    assert recovered.get_queue("q").active_count == 50
    recovered.close()

    with wal.open("r+b") as handle:
        handle.truncate(wal.stat().st_size // 2)
    with pytest.raises(DataDirectoryError, match=r"is missing \d+ of 51 acknowledged operations") as caught:
        open_durable_broker(directory)
    assert "Nothing was loaded" in caught.value.message and COUNTER_NAME in caught.value.message
    (directory / COUNTER_NAME).unlink()  # the way out the message names: start with what the database holds
    kept = open_durable_broker(directory)
    assert 0 <= (kept.get_queue("q").active_count if kept.has_queue("q") else 0) < 50
    kept.close()


def test_a_receive_and_delete_whose_write_fails_gives_the_messages_back(tmp_path: Path) -> None:
    broker = open_durable_broker(tmp_path)
    broker.create_queue("q")
    broker.send("q", [BrokerMessage(body=b"only copy", message_id="one")])
    store = broker.store
    assert isinstance(store, SqliteStore)
    store._db.execute("PRAGMA query_only = ON")  # every write now fails inside SQLite, for real
    with pytest.raises(ServiceUnavailableError):
        broker.receive("q", 1, delete=True)  # the caller never gets the message: it must not be gone
    store._db.execute("PRAGMA query_only = OFF")
    [again] = broker.receive("q", 1, delete=True)
    assert (again.body, again.delivery_count) == (b"only copy", 1)
    broker.close()
