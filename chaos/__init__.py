"""Chaos harness for replica-failover: a local Alibaba Cloud emulator, fault injection and game days.

Structure:

* ``emulator/``: the stateful stand-in for the cloud APIs, one package per service (``ebs/``, ``fc/``,
  ``cms/``, ``notify/``), with shared auth, ClientTokens, faults, rate limits, ledger, clock and the
  ``/_emulator/`` control plane.
* ``gameday/``: game days: scenario, world, delivery channels, method, judging, expectations, reports.
* ``scenarios/``: the bundled game-day library (package data).
* ``cli.py``: the ``replica-failover`` command; ``invoke.py``: ``invoke`` (the function in-process, as
  ``fun local invoke`` without Docker); ``template.py``: template.yml, which template, the code directory;
  ``bench.py``: ``bench`` (its bound: ``bench_bound.py``), ``bench_recovery.py``: ``bench --recovery`` (the RTO);
  ``fanout_cli.py``: ``fanout status`` and ``fanout bench`` (the fleet run with fan-out: ``bench_fleet.py``);
  ``demo.py``: ``demo``; ``recovery_cli.py``: ``recovery schema|check`` (the recovery map); ``approve.py``:
  ``approve`` (a signed approval for a held plan); ``drill_cli.py``: ``drill`` and ``drill cleanup``
  (non-disruptive drills); ``reverse_cli.py``: ``undo``, ``reprotect``, ``failback`` (reverse a failover).

The failover function (``functions/failover``) never imports this package.
"""
