"""``queue_journal``: wait until queues are idle and assert on what the broker did, without sleeping.

Every assertion reads the provider's operation journal (capability ``journal``) and, when it fails, shows the
journal lines of the queues concerned, so the failure says what did happen instead of only what did not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from queue_runtime.broker import IdleReport, JournalEntry, JournalKind
from queue_runtime.ports import JournalControl

__all__ = ["QueueJournal"]

_SHOWN = 40
Where = Callable[[JournalEntry], bool] | Mapping[str, Any] | None


def _matches(entry: JournalEntry, where: Where) -> bool:
    if where is None:
        return True
    if callable(where):
        return bool(where(entry))
    return all(getattr(entry, name) == value for name, value in where.items())


class QueueJournal:
    """The journal of the provider under test, from the moment the fixture was set up.

    ``await queue_journal.wait_until_idle(queue)`` returns once nothing is receivable, locked or due on the
    queues; then ``await queue_journal.completed(queue)``, ``dead_lettered(queue, reason=...)``,
    ``published(queue_or_topic, where=...)`` and ``delivery_counts(queue)`` check what happened. Each assertion
    returns the matching entries.
    """

    def __init__(self, control: JournalControl, *, after_id: int = 0) -> None:
        self.control = control
        self.after_id = after_id

    @classmethod
    async def start(cls, control: JournalControl) -> QueueJournal:
        newest = await control.entries(limit=1)
        return cls(control, after_id=newest[-1].id if newest else 0)

    # ------------------------------------------------------------------ reading

    async def entries(
        self,
        queue: str | Sequence[str] | None = None,
        *,
        kinds: Iterable[JournalKind | str] | None = None,
        message_id: str | None = None,
    ) -> list[JournalEntry]:
        queues = [queue] if isinstance(queue, str) else list(queue) if queue is not None else None
        return await self.control.entries(
            queues=queues, kinds=[JournalKind(k).value for k in kinds] if kinds else None,
            message_id=message_id, after_id=self.after_id,
        )

    async def lines(self, queue: str | Sequence[str] | None = None, *, last: int = _SHOWN) -> str:
        """The journal as text (the newest ``last`` lines), as failures show it."""
        found = await self.entries(queue)
        shown = found[-last:]
        header = f"journal of {_names(queue)}" if queue is not None else "journal"
        if len(found) > len(shown):
            header += f" (the newest {len(shown)} of {len(found)} entries)"
        if not found:
            return f"{header}: no entries since the test started"
        return header + ":\n" + "\n".join("  " + entry.line() for entry in shown)

    # ------------------------------------------------------------------ waiting

    async def wait_until_idle(
        self, *queues: str, timeout: float = 10.0, quiet: float = 0.1, grace: float = 0.0
    ) -> IdleReport:
        """Return once every queue has nothing receivable, locked, or scheduled within ``grace`` seconds, and has
        had no journal entry for ``quiet`` seconds. Fails after ``timeout`` seconds, saying what was still busy."""
        if not queues:
            raise TypeError("wait_until_idle() needs at least one queue name")
        report = await self.control.wait_until_idle(list(queues), timeout=timeout, quiet=quiet, grace=grace)
        if not report.idle:
            raise AssertionError(
                f"queues still busy after {timeout}s: {report.describe()}\n{await self.lines(list(queues))}"
            )
        return report

    # ------------------------------------------------------------------ assertions

    async def _expect(
        self,
        queue: str,
        kinds: Sequence[JournalKind],
        *,
        count: int | None,
        where: Where,
        what: str,
    ) -> list[JournalEntry]:
        found = [e for e in await self.entries(queue, kinds=kinds) if _matches(e, where)]
        if (count is None and not found) or (count is not None and len(found) != count):
            wanted = "at least one" if count is None else f"exactly {count}"
            raise AssertionError(
                f"expected {wanted} {what} on {_names(queue)}, found {len(found)}\n{await self.lines(queue)}"
            )
        return found

    async def completed(
        self, queue: str, *, count: int | None = None, message_id: str | None = None, where: Where = None
    ) -> list[JournalEntry]:
        """Messages of ``queue`` that were completed (or received-and-deleted)."""
        return await self._expect(queue, [JournalKind.COMPLETED, JournalKind.RECEIVED_AND_DELETED], count=count,
                                  where=_with_id(where, message_id), what="completed message(s)")

    async def dead_lettered(
        self,
        queue: str,
        *,
        reason: str | None = None,
        count: int | None = None,
        message_id: str | None = None,
        where: Where = None,
    ) -> list[JournalEntry]:
        """Messages of ``queue`` moved to its dead-letter queue (by a receiver, max delivery count or expiry)."""
        def check(entry: JournalEntry) -> bool:
            return (reason is None or entry.reason == reason) and _matches(entry, _with_id(where, message_id))

        what = "dead-lettered message(s)" + (f" with reason {reason!r}" if reason is not None else "")
        return await self._expect(queue, [JournalKind.DEAD_LETTERED], count=count, where=check, what=what)

    async def abandoned(
        self, queue: str, *, count: int | None = None, message_id: str | None = None
    ) -> list[JournalEntry]:
        return await self._expect(queue, [JournalKind.ABANDONED], count=count, where=_with_id(None, message_id),
                                  what="abandoned message(s)")

    async def published(
        self, entity: str, *, where: Where = None, count: int | None = None
    ) -> list[JournalEntry]:
        """Messages published to a topic, or sent to a queue. ``where`` is a predicate on the entry or a mapping
        of entry fields (``{"message_id": "42"}``, ``{"session_id": "s1"}``)."""
        return await self._expect(entity, [JournalKind.PUBLISHED, JournalKind.SENT, JournalKind.SCHEDULED],
                                  count=count, where=where, what="published/sent message(s)")

    async def delivery_counts(self, queue: str) -> dict[str, int]:
        """For each message (by message id, else ``seq-<n>``): how many times it was delivered."""
        counts: dict[str, int] = {}
        for entry in await self.entries(queue, kinds=[JournalKind.DELIVERED]):
            key = entry.message_id or f"seq-{entry.sequence_number}"
            counts[key] = max(counts.get(key, 0), entry.delivery_count or 0)
        return counts


def _names(queue: str | Sequence[str]) -> str:
    return repr(str(queue)) if isinstance(queue, str) else ", ".join(repr(str(q)) for q in queue)


def _with_id(where: Where, message_id: str | None) -> Where:
    if message_id is None:
        return where
    return lambda entry: entry.message_id == message_id and _matches(entry, where)
