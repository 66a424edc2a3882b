"""Reports show what the function decided and why (signal, decision, evidence, approval) and what the
notification endpoints received, in every format."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.gameday.report import render_html, render_markdown
from chaos.gameday.report_confirm import decision_rows, notification_rows
from chaos.gameday.runner import RunOptions, run_file

REPO = Path(__file__).resolve().parents[2]


def test_approval_flow_report_shows_decisions_and_notifications(tmp_path: Path) -> None:
    outcome = run_file(REPO / "chaos" / "scenarios" / "approval-flow.yaml", RunOptions(report_dir=tmp_path))
    journal = outcome.journal
    rows = decision_rows(journal)
    assert [r[2] for r in rows] == ["held", "rejected", "rejected", "rejected", "completed"]
    assert rows[0][3] == "alarm" and rows[0][4].startswith("act (true)") and "probe=True" in rows[0][5]
    assert rows[0][7].startswith("required: 3 target(s)")
    assert [r[7].split(" (")[0] for r in rows[1:4]] == [
        "rejected: bad-signature",
        "rejected: expired",
        "rejected: other-incident",
    ]
    assert rows[4][7] == "verified, by oncall-alice: run 3, held 1" and "dingtalk act ok" in rows[4][8]
    received = notification_rows(journal)
    # the second hold asks a new approval for the target that joined the plan after the first
    assert [r[2] for r in received] == ["hold"] * 2 + ["failure"] * 6 + ["hold", "hold", "act", "act"] + ["result"] * 2
    assert all(r[3] == "yes" for r in received)
    md = (tmp_path / "approval-flow" / "report.md").read_text(encoding="utf-8")
    assert "## Decisions and evidence" in md and "## Notifications received" in md
    assert "| 1 | robot oncall | hold | yes | ok | Failover held: cn-hangzhou |" in md
    page = (tmp_path / "approval-flow" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Decisions and evidence</h2>" in page and "rejected: bad-signature" in page
    doc = json.loads((tmp_path / "approval-flow" / "report.json").read_text(encoding="utf-8"))
    assert len(doc["notifications"]) == 14 and doc["figures"]["notifications"] == 14
    assert ">CloudMonitor calls<" in page and ">Notifications received<" in page


def test_sections_escape_what_the_endpoints_received() -> None:
    """A message body is untrusted text: it is escaped in HTML and neutralised in Markdown."""
    from chaos.gameday.journal import RunJournal

    evil = "<script>alert(1)</script> | [x](javascript:alert(1))"
    journal = RunJournal(
        scenario="s",
        title="t",
        seed=0,
        started_wall=0.0,
        duration_s=0.1,
        verdict="pass",
        notifications=[
            {
                "seq": 1,
                "kind": "webhook",
                "target": "ops",
                "accepted": True,
                "verification": "ok",
                "body": {"text": evil},
                "message": "other",
            }
        ],
    )
    page = render_html(journal)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    md = render_markdown(journal)
    assert "<script>" not in md and "\\|" in md and "\\[x\\]" in md
    assert "## Decisions and evidence" not in md  # no invocation reported a decision
