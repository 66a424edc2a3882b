"""Operator actions that reverse a failover: ``undo`` (a false alarm), ``reprotect`` (the old primary is
back: replicate towards it) and ``failback`` (a planned failover back, then the original direction).

``models.py`` the request and the JSON result, ``tokens.py`` the ClientTokens, ``client.py`` the ebs
calls (official V2 SDK, imported on use), ``flows.py`` each action's steps and the states that place a
target in them, ``scope.py`` the deployment's allow/deny lists, tags and cap, ``plan.py`` targets +
preconditions -> a plan (no writes), ``run.py`` executes it,
``event.py`` is the function's entry (``run(payload, call)``). docs/failback.md has the long form.
"""
