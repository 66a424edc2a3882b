"""Drill reports people read: a drill's JSON report rendered as drill.md and a self-contained drill.html.

Structure:

* ``source.py``: reading a report file, either ``drill run``'s JSON or the function's manual drill event
  result (the report under ``drill``), validated with pydantic; a bad file is one :class:`ReportError` line.
* ``summary.py``: what the report says, worked out once: verdict, RPO distribution and histogram against
  the objective, the targets that miss it (worst first), problem targets first, what to do next.
* ``cells.py``: the tables as plain-text rows; ``markdown.py`` and ``html.py`` escape and lay them out.

:func:`write_reports` writes drill.json, drill.md and drill.html; every file goes through the
credential redaction the game-day reports use.
"""

from __future__ import annotations

import json
from pathlib import Path

from chaos.drill_report.html import render_html
from chaos.drill_report.markdown import render_markdown
from chaos.drill_report.source import DrillDocument, ReportError, load, parse
from chaos.drill_report.summary import Summary, summarise

__all__ = [
    "DrillDocument",
    "ReportError",
    "Summary",
    "load",
    "parse",
    "render_html",
    "render_markdown",
    "summarise",
    "write_reports",
]

FILES = {"json": "drill.json", "markdown": "drill.md", "html": "drill.html"}


def write_reports(doc: DrillDocument, out_dir: Path, *, skip: Path | None = None) -> dict[str, Path]:
    """Write drill.json (the report alone), drill.md and drill.html into ``out_dir`` (created).

    ``skip``: a path not to overwrite (the file a report is being rendered from).
    """
    from chaos.gameday.report import write_report_file

    s = summarise(doc)
    texts = {
        "json": json.dumps(doc.report.to_json(), indent=2, sort_keys=True) + "\n",
        "markdown": render_markdown(s),
        "html": render_html(s),
    }
    written: dict[str, Path] = {}
    for kind, name in FILES.items():
        path = out_dir / name
        if skip is not None and path.resolve() == skip.resolve():
            continue
        written[kind] = write_report_file(path, texts[kind])
    return written
