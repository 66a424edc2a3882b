"""The hypothesis's checks form one table: each expect field switches its own check, by name, in order."""

from __future__ import annotations

from chaos.gameday.expectations import CHECKS, evaluate
from chaos.gameday.observations import Observations
from chaos.gameday.scenario import Expect


def _quiet(ledger: bool = True) -> Observations:
    return Observations(
        primary="cn-hangzhou",
        eligible=set(),
        initial={},
        final={},
        ledger={"requests": [], "effects": []},
        ledger_available=ledger,
        invocation_status=[("#0 alarm (direct)", "completed", None)],
        final_results=[{"status": "completed", "ok": True, "reason": "nothing to do", "targets": []}],
        attempt_results=[],
        fault_rules=[],
    )


def test_names_are_unique_and_in_report_order() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names)) == 22
    everything = Expect(
        max_api_calls=1,
        max_write_calls=0,
        max_retries=0,
        min_faults_fired=0,
        result_ok=True,
        result_reason_contains="nothing",
        target_outcomes={"pair-a": ["absent"]},
        eligible_outcomes=["failedOver"],
        failed_reason_contains="x",
        min_fc_attempts=1,
    )
    got = [r.name for r in evaluate(everything, _quiet())]
    # no FC records: no DLQ to read; no recovery world: no recovery checks
    assert got == [n for n in names if n != "async-failures" and not n.startswith(("recovery-", "service-"))]


def test_defaults_and_a_staging_account() -> None:
    assert [r.name for r in evaluate(Expect(), _quiet(ledger=False))] == ["completion-time", "result-status"]
    on = evaluate(Expect(), _quiet())
    assert [r.name for r in on][:4] == [c.name for c in CHECKS][:4] and all(r.ok for r in on)
    # a check that would pass on nothing at all says so
    [failed] = [r for r in evaluate(Expect(failed_reason_contains="ebs:"), _quiet()) if not r.ok]
    assert failed.name == "failed-targets-say-why" and "no target reported failed" in failed.message
