"""``queue_journal``: a QueueProcessor test with no sleep, readable assertions, and failures that show the journal.
Each runs in a child pytest against memory and the emulator, the way a user's suite would."""

from __future__ import annotations

import textwrap

import pytest
from _runner import run_pytest

INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""

PROJECT = '''
import pytest
from queue_runtime import DeadLetter, Message, QueueProcessor, ReceivedMessage


async def handle(message: ReceivedMessage) -> None:
    if message.body == b"poison":
        raise DeadLetter("Poison", "cannot parse the order")
    if message.body == b"flaky" and message.delivery_count < 2:
        raise RuntimeError("try again")


@pytest.mark.asyncio
async def test_processor_settles_everything(queue_client, queue_name, queue_journal):
    await queue_client.send_messages(queue_name, [Message(b"ok", message_id="ok"), Message(b"poison", message_id="p"),
                                                  Message(b"flaky", message_id="f")])
    async with QueueProcessor(queue_client, queue_name, handle):
        await queue_journal.wait_until_idle(queue_name)
    completed = await queue_journal.completed(queue_name, count=2)
    assert {e.message_id for e in completed} == {"ok", "f"}
    [dead] = await queue_journal.dead_lettered(queue_name, reason="Poison")
    assert dead.message_id == "p" and dead.description == "cannot parse the order"
    await queue_journal.published(queue_name, where={"message_id": "ok"})
    await queue_journal.published(queue_name, where=lambda e: e.message_id == "f", count=1)
    assert (await queue_journal.delivery_counts(queue_name)) == {"ok": 1, "p": 1, "f": 2}
    await queue_journal.abandoned(queue_name, message_id="f", count=1)


@pytest.mark.asyncio
async def test_failing_assertion_shows_the_journal(queue_client, queue_name, queue_journal):
    await queue_client.send_message(queue_name, Message(b"x", message_id="only-one"))
    received = await queue_client.receive_message(queue_name, timeout=1)
    await queue_client.abandon_message(received)
    await queue_journal.completed(queue_name)


@pytest.mark.asyncio
async def test_busy_queue_times_out_saying_why(queue_client, queue_name, queue_journal):
    await queue_client.send_message(queue_name, Message(b"nobody reads me", message_id="lonely"))
    await queue_journal.wait_until_idle(queue_name, timeout=0.2)
'''


@pytest.mark.parametrize("provider", ["memory", "emulator"])
def test_queue_journal_fixture(pytester: pytest.Pytester, provider: str) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_project=textwrap.dedent(PROJECT))
    result = run_pytest(f"--queue-provider={provider}", cwd=pytester.path)
    assert result.outcomes("PASSED") == {"test_processor_settles_everything"}, result.output[-4000:]
    assert result.outcomes("FAILED") == {"test_failing_assertion_shows_the_journal",
                                         "test_busy_queue_times_out_saying_why"}
    output = result.output
    # The failure says what was expected and shows what did happen, line by line.
    assert "expected at least one completed message(s) on 'q-main-test-failing-assertion-shows-the-journal" in output
    assert "sent" in output and "id=only-one" in output and "abandoned" in output and "delivery=1" in output
    assert "queues still busy after 0.2s: " in output and "1 receivable" in output and "id=lonely" in output


def test_queue_journal_skips_without_the_capability(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_project="""
        import pytest

        @pytest.mark.asyncio
        async def test_needs_it(queue_journal):
            pass
    """)
    result = run_pytest("--queue-provider=broken_adapters:no_journal", cwd=pytester.path)
    assert "requires capability 'journal'" in result.output, result.output[-3000:]
