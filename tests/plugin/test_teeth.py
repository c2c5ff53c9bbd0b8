"""The contract suite has teeth: each deliberately broken adapter fails exactly the tests about what it broke,
and the same wrapping without the breakage passes everything."""

from __future__ import annotations

import pytest
from _runner import run_pytest

SUITE = ("--pyargs", "queue_contract_tests", "-q")

BROKEN = {
    "loses_abandoned": {
        "test_abandon_redelivers_with_delivery_count_plus_one",
        "test_max_delivery_count_moves_the_message_to_the_dead_letter_queue",
        "test_abandoned_dead_letter_message_stays_in_the_dead_letter_queue",
        "test_the_processor_dead_letters_after_the_last_delivery_saying_why",
        # The dead-letter manager hands back what it does not resubmit or purge by abandoning it: lost here.
        "test_resubmit_where_takes_a_bounded_selection_and_leaves_the_rest_D9",
        "test_resubmit_one_by_id_and_a_missing_id_is_a_typed_error",
        "test_purge_deletes_dead_letters_for_good",
        "test_fan_out_to_every_matching_subscription",
        "test_subscription_dead_letter_and_max_delivery",
    },
    "never_counts_deliveries": {
        "test_abandon_redelivers_with_delivery_count_plus_one",
        "test_lock_expiry_redelivers",
        "test_max_delivery_count_moves_the_message_to_the_dead_letter_queue",
        "test_the_processor_dead_letters_after_the_last_delivery_saying_why",
    },
    "shares_session_locks": {"test_a_session_is_locked_by_one_client_only"},
    # What QueueProcessor needs: an adapter written without get_queue fails here, not later in production.
    "lacks_get_queue": {
        "test_get_queue_reports_the_options_the_queue_was_made_with",
        "test_the_processor_completes_messages_with_default_options",
        "test_the_processor_finds_out_that_a_queue_needs_sessions",
        "test_the_processor_dead_letters_after_the_last_delivery_saying_why",
        "test_a_forwarding_loop_between_queues_set_by_update",  # update_queue(**changes) reads the queue first
    },
}


def test_the_faithful_wrapper_passes_the_whole_suite() -> None:
    result = run_pytest(*SUITE, "--queue-provider=broken_adapters:faithful", "-n", "2")
    assert result.returncode == 0, result.output[-3000:]
    assert result.outcomes("FAILED") == set() and result.outcomes("ERROR") == set()
    assert result.outcomes("SKIPPED") == set(), "a skip is not a pass: every capability is declared"
    assert len(result.outcomes("PASSED")) >= 40


@pytest.mark.parametrize("adapter", sorted(BROKEN))
def test_a_broken_adapter_fails_on_the_right_tests(adapter: str) -> None:
    result = run_pytest(*SUITE, f"--queue-provider=broken_adapters:{adapter}", "-n", "2")
    assert result.returncode == 1, result.output[-3000:]
    assert result.outcomes("FAILED") == BROKEN[adapter], result.output[-3000:]
    assert result.outcomes("ERROR") == set()
