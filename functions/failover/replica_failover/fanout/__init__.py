"""Fan-out of one incident over several async invocations of this same function (docs/fanout.md).

A plan larger than one invocation should carry makes the invocation a *coordinator*: it splits the
plan's targets into batches (split.py) and async-invokes the function once per batch with a batch
event and a deterministic task id (dispatch.py). Each *worker* re-plans its batch from the DR
site's state and runs it like any invocation, paced to its share of the region's rate (quota.py).
A ``status`` event aggregates the workers' async tasks (status.py).
"""
