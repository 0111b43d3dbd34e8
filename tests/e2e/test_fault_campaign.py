"""The fault campaign's short profile (python -m benchmarks.faults --profile short): the whole loop
against the sandbox under every kind of fault and SIGKILLs of the worker, rerun until it converges,
then held against the sandbox's ground truth: nothing twice, nothing lost, no secret anywhere."""

from benchmarks.faults import PROFILES, run_campaign

SHORT = PROFILES["short"]


def test_the_short_campaign_converges_with_no_duplicate_and_no_loss(tmp_path):
    outcome = run_campaign(SHORT, seed=11, workdir=tmp_path)
    print(outcome.table)
    injected = {k.removeprefix("fault: ") for k, n in outcome.stats.items() if k.startswith("fault: ") and n}
    assert {"rate_limit", "unavailable", "drop", "lost_response", "malformed_record"} <= injected
    assert outcome.stats["kills"] >= 1  # a kill lands unless every run ended before its moment
    assert outcome.findings.counts["documents expected"] > 0 and outcome.findings.counts["exports"] > 0
    assert outcome.findings.problems == []  # duplicates and losses: none
