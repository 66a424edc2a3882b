"""Game days: declarative chaos scenarios run against the emulator, judged from its ledger.

Structure (the phases of one run, in the order ``runner.py`` drives them):

* ``scenario.py``: the scenario file (pydantic; ``gameday schema``); ``library.py``: the bundled
  scenarios (package data, found from any working directory).
* ``world.py``: world setup: the emulator (embedded or ``--endpoint``), the fleet, the template's
  functions registered with their environment. ``client.py``: how the runner talks to the emulator
  (in-process or over ``/_emulator/``); ``capture.py``: the FC handlers that wrap the template's
  functions and keep what each attempt returned.
* ``channels.py``: delivery: how each copy of the trigger event reaches the function (``direct``,
  ``fc-sync``, ``fc-async``, ``webhook``; a deployed ``fc://`` target) and how its result comes back.
* ``method.py``: the method: the scenario's steps during the run (faults armed, flips, clock moves,
  CloudMonitor records added mid-run). ``notifications.py``: the notification endpoints the function
  is pointed at (robot, webhook) and reading what they received; ``approvals.py``: approve steps, built
  from the latest hold message with ``replica-failover approve``'s code.
* ``judging.py``: reading the emulator after the method (``observations.py``), checking the
  steady-state hypothesis and writing the journal (``journal.py``).
* ``expectations.py``: the hypothesis as a table of checks, one function per ``expect`` field,
  with ``eligibility.py`` the oracle of which targets must fail over; ``confirmation_checks.py``: the
  checks of decisions, approvals and notifications; ``verdict.py``: what one check found.
* ``timeline.py``, ``report.py``: per-target timelines and the report files (JSON, Markdown, HTML),
  with ``report_confirm.py`` the decision and notification tables; ``display.py``: what the command prints.
* The service recovery: ``recovery_world.py`` seeds standbys, DNS records and the plan file;
  ``recovery_checks.py`` judges attach, start and switch from the ledger; ``stage_lanes.py`` draws
  the compute and traffic lanes.
* Drills: ``drill_checks.py`` judges manual drill events from the ledger (no failover, one drill per
  target per run, every drill cleared, RPO misses, leftovers a later run cleared).
* Undo, reprotect and failback: ``reverse_checks.py`` judges their steps and tokens from the ledger.
"""
