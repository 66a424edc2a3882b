"""Fixtures for the function against the emulator: an FC-like context and an in-process invoke."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from replica_failover.handler import PendingWork, handle
from replica_failover.retry import Backoff

from chaos.emulator.app import Emulator
from chaos.emulator.fc import FcContext, FunctionSpec, make_context
from tests.conftest import DR

Invoke = Callable[..., dict[str, Any]]


def fc_context(emulator: Emulator, *, timeout: float = 60, request_id: str = "req-test") -> FcContext:
    config = emulator.config()
    spec = FunctionSpec(service="replica-failover", name="failover", handler="index:handler", timeout=timeout)
    return make_context(
        spec,
        request_id=request_id,
        credential=config.credential(config.function_role_access_key_id),
        region=DR,
        account_id=config.account_id,
    )


# The tests whose point is execution mechanics trust every signal; the confirmation policy has its own tests.
TRUST_SIGNAL = "alarm or resource or manual"


def base_env(endpoint: str, **overrides: str) -> dict[str, str]:
    env = {
        "FAILOVER_CONFIRM": TRUST_SIGNAL,
        "CMS_ENDPOINT": f"http://{endpoint}",
        "FAILOVER_PRIMARY_REGIONS": "cn-hangzhou,cn-beijing",
        "FAILOVER_DR_REGION": DR,
        "EBS_ENDPOINT": f"http://{endpoint}",
        "FAILOVER_MAX_TARGETS": "500",
        "FAILOVER_RETRY_BUDGET": "500",
        "FAILOVER_DEADLINE_MARGIN_SECONDS": "1",
        "FAILOVER_READ_TIMEOUT_SECONDS": "5",
        # one function plays both roles here; deployed, the operator actions run on the operations function
        "FAILOVER_OPERATIONS": "drill,undo,reprotect,failback",
    }
    env.update(overrides)
    return env


@pytest.fixture
def invoke(emulator: Emulator, endpoint: str) -> Invoke:
    """Run the handler in-process; returns the result (PendingWork's result too, marked ``raised``)."""

    def run(
        event: Any,
        *,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        **overrides: str,
    ) -> dict[str, Any]:
        raw = event if isinstance(event, bytes | str) else json.dumps(event)
        logs = io.StringIO()
        try:
            result = handle(
                raw,
                fc_context(emulator, timeout=timeout),
                env=env or base_env(endpoint, **overrides),
                log_stream=logs,
                backoff=backoff or Backoff(base=0.01, cap=0.2),
            )
            result["raised"] = False
        except PendingWork as exc:
            result = dict(exc.result)
            result["raised"] = True
        result["logLines"] = [json.loads(line) for line in logs.getvalue().splitlines()]
        return result

    return run


@pytest.fixture(params=[False, True], ids=["default", "strict"])
def strict(request: pytest.FixtureRequest, emulator: Emulator) -> bool:
    """Default mode accepts a second failover of a failed-over pair (only the token stops it); strict refuses it."""
    emulator.update_config({"strict": request.param})
    return bool(request.param)


@pytest.fixture
def world(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """seed_basic's fleet and a signed DingTalk robot for the confirmation tests (confirm_world.py).
    The client-side robot limit (20 a minute) is per process: each test starts with its own."""
    from replica_failover.notify import send

    from chaos.emulator.notify.models import RobotSpec
    from tests.conftest import seed_basic
    from tests.function.confirm_world import ROBOT_SECRET, ROBOT_TOKEN

    monkeypatch.setattr(send, "DINGTALK_LIMITER", send.RateLimiter())
    seed_basic(emulator)
    emulator.notify.configure_robots([RobotSpec(token=ROBOT_TOKEN, secret=ROBOT_SECRET, name="oncall")])
    return emulator
