"""Cost of evaluating one compiled SQL filter or action per message, against a hand-written Python lambda.

Run: python benchmarks/sql_filters.py [--number N]
Prints a table: nanoseconds per evaluation of each compiled rule and of the lambda a programmer would write for the
same rule (the baseline, same process, same run), their ratio, and what compiling the rule once costs.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from typing import Any

from queue_runtime.broker.sql import compile_action, compile_filter

SYSTEM: dict[str, Any] = {
    "messageid": "6c1e2c8e",
    "correlationid": "c-17",
    "to": "Store5",
    "replyto": None,
    "label": "order",
    "sessionid": None,
    "contenttype": "application/json",
    "timetolive": 3600.0,
    "sequencenumber": 1042,
    "deliverycount": 0,
    "size": 512,
}
USER: dict[str, Any] = {
    "color": "red",
    "quantity": 12,
    "StoreId": "Store2",
    "priority": "low",
    "region": "eu",
    "amount": 90.0,
    "vip": False,
}


def _lower(user: dict[str, Any], name: str) -> Any:
    value = user.get(name)
    if value is None:
        for key in user:
            if key.lower() == name:
                return user[key]
    return value


FILTERS: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any], dict[str, Any]], bool]]] = [
    ("system equality", "sys.Label = 'order'", {}, lambda s, u: s.get("label") == "order"),
    (
        "two user properties",
        "color = 'red' AND quantity > 10",
        {},
        lambda s, u: u.get("color") == "red" and (q := u.get("quantity")) is not None and q > 10,
    ),
    (
        "IN list",
        "StoreId IN ('Store1', 'Store2', 'Store3')",
        {},
        lambda s, u: u.get("StoreId") in {"Store1", "Store2", "Store3"},
    ),
    (
        "LIKE prefix OR",
        "sys.Label LIKE 'ord%' OR priority = 'high'",
        {},
        lambda s, u: (s.get("label") or "").startswith("ord") or u.get("priority") == "high",
    ),
    (
        "parameters, arithmetic",
        "user.region = @region AND (amount * 1.2 > @limit OR vip = TRUE)",
        {"@region": "eu", "@limit": 100},
        lambda s, u: u.get("region") == "eu" and (u.get("amount", 0) * 1.2 > 100 or u.get("vip") is True),
    ),
    (
        "name in another case",
        "storeid = 'Store2'",
        {},
        lambda s, u: _lower(u, "storeid") == "Store2",
    ),
    (
        "missing property",
        "discount > 5",
        {},
        lambda s, u: (d := u.get("discount")) is not None and d > 5,
    ),
]


def per_call_ns(function: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="evaluations per timing (best of 5)")
    number = parser.parse_args().number

    print(f"{'rule':<24} {'compiled ns':>12} {'lambda ns':>10} {'ratio':>6} {'compile us':>11}")
    for name, text, parameters, baseline in FILTERS:
        compiled = compile_filter(text, parameters=parameters)
        assert compiled.matches(SYSTEM, USER) == baseline(SYSTEM, USER), name
        compile_us = per_call_ns(lambda t=text, p=parameters: compile_filter(t, parameters=p), 200) / 1000
        matches = compiled.matches
        ours = per_call_ns(lambda m=matches: m(SYSTEM, USER), number)
        theirs = per_call_ns(lambda b=baseline: b(SYSTEM, USER), number)
        print(f"{name:<24} {ours:>12.0f} {theirs:>10.0f} {ours / theirs:>6.1f} {compile_us:>11.0f}")

    action = compile_action("SET sys.Label = 'routed'; SET quantity = quantity / 2; REMOVE color")

    def by_hand(system: dict[str, Any], user: dict[str, Any]) -> None:
        system["label"] = "routed"
        user["quantity"] = user["quantity"] // 2
        user.pop("color", None)

    def run_action() -> None:
        action.apply(dict(SYSTEM), dict(USER))

    def run_by_hand() -> None:
        by_hand(dict(SYSTEM), dict(USER))

    ours = per_call_ns(run_action, number // 4)
    theirs = per_call_ns(run_by_hand, number // 4)
    print(f"{'action SET,SET,REMOVE':<24} {ours:>12.0f} {theirs:>10.0f} {ours / theirs:>6.1f} {'':>11}")
    print("(action timings include copying the two property maps, as the engine does for each subscription)")


if __name__ == "__main__":
    main()
