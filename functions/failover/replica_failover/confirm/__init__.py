"""Deciding whether a signal is enough to fail over: the policy language (policy.py) and the
evidence gathered from the cloud at decision time (evidence.py, sources.py)."""
