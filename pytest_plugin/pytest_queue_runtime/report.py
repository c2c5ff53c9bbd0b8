"""``--queue-conformance-report=PATH``: what a provider declares against what the contract suite saw.

Workers (under xdist) attach the provider name, its declared capabilities and each test's required
capabilities to the test report's ``user_properties``; whoever writes the report (the controller)
reads them from there.
In report mode, a test that needs a capability the provider does not declare still runs: a failure there is
expected (shown as xfail), a pass is a mismatch ("undeclared but passing").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ConformanceRecorder", "TestOutcome", "report_paths"]

PROVIDER_KEY = "queue_runtime.provider"
DECLARED_KEY = "queue_runtime.declared"
REQUIRED_KEY = "queue_runtime.required"
UNDECLARED_KEY = "queue_runtime.undeclared"


@dataclass
class TestOutcome:
    nodeid: str
    provider: str
    required: list[str]
    undeclared: list[str]
    outcome: str = "passed"
    reason: str = ""
    duration: float = 0.0

    @property
    def mismatch(self) -> str | None:
        if self.undeclared and self.outcome == "passed":
            return "undeclared but passing"
        if self.required and not self.undeclared and self.outcome in ("failed", "error"):
            return "declared but failing"
        return None


@dataclass
class ConformanceRecorder:
    path: Path
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)
    tests: dict[str, TestOutcome] = field(default_factory=dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props: dict[str, Any] = dict(report.user_properties)
        provider = props.get(PROVIDER_KEY)
        if provider is None:
            return
        if DECLARED_KEY in props:
            self.declared[str(provider)] = dict(props[DECLARED_KEY])
        test = self.tests.get(report.nodeid)
        if test is None:
            test = self.tests[report.nodeid] = TestOutcome(
                report.nodeid,
                str(provider),
                list(props.get(REQUIRED_KEY, [])),
                list(props.get(UNDECLARED_KEY, [])),
            )
        test.duration += report.duration
        wasxfail = getattr(report, "wasxfail", None)
        if report.failed:
            test.outcome = "failed" if report.when == "call" else "error"
            test.reason = _first_line(report.longreprtext)
        elif report.skipped and test.outcome == "passed":
            if wasxfail is not None:
                test.outcome, test.reason = "failed as expected (undeclared)", str(wasxfail)
            else:
                test.outcome = "skipped"
                longrepr = report.longrepr
                test.reason = str(longrepr[2]) if isinstance(longrepr, tuple) else _first_line(str(longrepr))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        json_path, markdown_path = report_paths(self.path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        data = self.as_dict()
        json_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        markdown_path.write_text(self.markdown(data), encoding="utf-8")

    def as_dict(self) -> dict[str, Any]:
        tests = sorted(self.tests.values(), key=lambda t: (t.provider, t.nodeid))
        summary: dict[str, dict[str, int]] = {}
        for test in tests:
            counts = summary.setdefault(test.provider, {})
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return {
            "providers": {
                name: {"capabilities": caps, "summary": summary.get(name, {})}
                for name, caps in sorted(self.declared.items())
            },
            "tests": [
                {
                    "nodeid": t.nodeid,
                    "provider": t.provider,
                    "requires": t.required,
                    "outcome": t.outcome,
                    "reason": t.reason,
                    "duration": round(t.duration, 4),
                }
                for t in tests
            ],
            "mismatches": [
                {"nodeid": t.nodeid, "provider": t.provider, "kind": t.mismatch, "capabilities": t.required}
                for t in tests
                if t.mismatch
            ],
        }

    @staticmethod
    def markdown(data: dict[str, Any]) -> str:
        lines = ["# Queue provider conformance report", ""]
        for name, info in data["providers"].items():
            lines += [f"## Provider `{name}`", "", "| capability | declared |", "| --- | --- |"]
            lines += [f"| {cap} | {_cell(value)} |" for cap, value in info["capabilities"].items()]
            summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(info["summary"].items()))
            lines += ["", f"Outcomes: {summary or 'none'}", ""]
        lines += ["## Mismatches", ""]
        if data["mismatches"]:
            lines += ["| test | provider | kind | capabilities |", "| --- | --- | --- | --- |"]
            lines += [
                f"| `{m['nodeid']}` | {m['provider']} | {m['kind']} | {', '.join(m['capabilities'])} |"
                for m in data["mismatches"]
            ]
        else:
            lines.append("None: every declared capability passed its tests and no undeclared one passed.")
        lines += [
            "",
            "## Tests",
            "",
            "| test | provider | requires | outcome | reason |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{t['nodeid']}` | {t['provider']} | {', '.join(t['requires'])} | {t['outcome']} | "
            f"{_cell(t['reason'])} |"
            for t in data["tests"]
        ]
        return "\n".join(lines) + "\n"


def report_paths(path: Path) -> tuple[Path, Path]:
    """``report`` or ``report.json`` or ``report.md`` -> (``report.json``, ``report.md``)."""
    base = path.with_suffix("") if path.suffix in (".json", ".md") else path
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".md")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return (errors[0][1:].strip() if errors else (lines[-1] if lines else ""))[:300]


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
