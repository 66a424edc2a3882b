"""Property-based chaos: hypothesis profiles and the module-scoped emulator server.

Profiles (``ci`` is the default here):

* ``ci``: bounded and derandomized, so a CI failure reproduces on every run and the whole of
  ``tests/chaos`` stays under about two minutes on a 2-core machine.
* ``deep``: random (a new seed each run), 2000 examples for the main property and 500 for each
  of the others; ``print_blob`` prints the reproduction blob of any failure.

Select with ``RF_HYPOTHESIS_PROFILE=deep`` or ``pytest tests/chaos --hypothesis-profile deep``.
The profile is applied per test through :func:`chaos_settings` instead of ``settings.load_profile``:
loading it globally would also change the other suites' hypothesis tests in the same session.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.chaos.harness import Lab

_COMMON = {
    "deadline": None,  # an example is a whole failover with HTTP calls: wall time is measured by property (4)
    "database": None,  # nothing written into the repository; ci is derandomized, deep prints blobs
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", max_examples=2000, **_COMMON)  # type: ignore[arg-type]
PROFILES = ("ci", "deep")
DEFAULT_PROFILE = "ci"
ENV_VAR = "RF_HYPOTHESIS_PROFILE"

_active = os.environ.get(ENV_VAR) or DEFAULT_PROFILE


def pytest_configure(config: pytest.Config) -> None:
    """Pick the profile: the environment variable wins, then ``--hypothesis-profile``, then ``ci``."""
    global _active
    chosen = os.environ.get(ENV_VAR) or config.getoption("hypothesis_profile", None) or DEFAULT_PROFILE
    if chosen not in PROFILES:
        chosen = DEFAULT_PROFILE  # another suite's profile: ours keep their own bounds
    _active = chosen


def active_profile() -> str:
    if _active not in PROFILES:
        raise pytest.UsageError(f"{ENV_VAR}={_active!r}: choose one of {', '.join(PROFILES)}")
    return _active


def chaos_settings(*, ci: int, deep: int) -> settings:
    """Settings of one property: the active profile with this property's own example count."""
    name = active_profile()
    return settings(settings.get_profile(name), max_examples=ci if name == "ci" else deep)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One emulator server per test module; each example resets (or replaces) the emulator behind it."""
    # werkzeug logs a line per request at INFO: thousands per module, and nobody reads them
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    lab = Lab()
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
