"""The official V2 ebs SDK against the emulator: a client on a frozen emulator clock, and the
(HTTP status, code) of a call that must fail. Shared by the drill and Site tests."""

from __future__ import annotations

from typing import Any

from alibabacloud_ebs20210730.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils_models import Config

from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from tests.conftest import DR


def v2_client(endpoint: str, emulator: Emulator) -> Client:
    """A V2 client of the emulator's DR region; the emulator's clock is frozen (tests advance it)."""
    emulator.clock.freeze(True)
    config = Config(
        access_key_id=cfg.DEFAULT_ACCESS_KEY_ID, access_key_secret=cfg.DEFAULT_ACCESS_KEY_SECRET,
        region_id=DR, endpoint=endpoint, protocol="http",
    )  # fmt: skip
    return Client(config)


def error(call: Any) -> tuple[int, str]:
    try:
        call()
    except (ClientException, ServerException) as exc:
        return int(exc.status_code), str(exc.code)
    raise AssertionError("the call succeeded")
