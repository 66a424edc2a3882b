"""Alidns domain records in the API's field names, and the control-plane document that seeds them."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

RECORD_TYPES = ("A", "NS", "MX", "TXT", "CNAME", "SRV", "AAAA", "CAA", "REDIRECT_URL", "FORWARD_URL")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
RR_RE = re.compile(r"^(@|\*|[A-Za-z0-9_*-]{1,63}(\.[A-Za-z0-9_-]{1,63})*)$")


class DomainRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    RecordId: str = Field(pattern=r"^[0-9]{1,32}$")
    DomainName: str
    RR: str
    Type: str = "A"
    Value: str = Field(min_length=1, max_length=512)
    TTL: int = Field(default=600, ge=1, le=86400)
    Line: str = "default"
    Priority: int | None = Field(default=None, ge=1, le=50)
    Weight: int | None = None
    Status: str = "ENABLE"
    Locked: bool = False
    Remark: str = ""
    CreateTimestamp: int = 0
    UpdateTimestamp: int = 0

    @field_validator("DomainName")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not DOMAIN_RE.match(v):
            raise ValueError(f"not a domain name: {v!r}")
        return v

    @field_validator("RR")
    @classmethod
    def _rr(cls, v: str) -> str:
        if not RR_RE.match(v):
            raise ValueError(f"not a host record: {v!r}")
        return v

    @field_validator("Type")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in RECORD_TYPES:
            raise ValueError(f"Type must be one of {RECORD_TYPES}")
        return v

    @field_validator("Status")
    @classmethod
    def _status(cls, v: str) -> str:
        if v not in ("ENABLE", "DISABLE"):
            raise ValueError("Status must be ENABLE or DISABLE")
        return v


class SeedRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[DomainRecord] = Field(min_length=1, max_length=10_000)
