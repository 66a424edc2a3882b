"""Robot configuration accepted by the control plane (``POST /_emulator/robots``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RobotSpec(BaseModel):
    """A DingTalk custom robot: its webhook ``access_token`` and its security settings.

    With ``secret`` (``SEC…``) every message must be signed; with ``keywords`` its text must
    contain one of them. ``name`` is what records and listings show: tokens and secrets never
    leave through the control plane.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    token: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")
    secret: str | None = Field(default=None, min_length=1, max_length=256)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    keywords: list[str] = Field(default_factory=list, max_length=10)


class SeedRobots(BaseModel):
    model_config = ConfigDict(extra="forbid")

    robots: list[RobotSpec] = Field(min_length=1, max_length=1000)
