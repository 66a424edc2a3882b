"""The alidns state: domain records by RecordId; UpdateDomainRecord is the one write and a ledger effect."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from chaos.emulator.clock import Clock
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.errors import ApiError
from chaos.emulator.ledger import Ledger

# codes seen from alidns; their HTTP statuses are not published, 400 is a guess [INF]
DUPLICATE = ApiError(code="DomainRecordDuplicate", status=400, message="The DNS record already exists.")


def not_found(kind: str) -> ApiError:
    if kind == "record":
        return ApiError(code="DomainRecordNotBelongToUser", status=400, message="The DNS record does not exist.")
    return ApiError(code="InvalidDomainName.NoExist", status=400, message="The specified domain name does not exist.")


class DnsBackend:
    def __init__(self, clock: Clock, ledger: Ledger) -> None:
        self.clock = clock
        self.ledger = ledger
        self.lock: threading.RLock = ledger.lock
        self.records: dict[str, DomainRecord] = {}

    def seed(self, records: Iterable[DomainRecord]) -> list[str]:
        with self.lock:
            out = []
            now_ms = int(self.clock.now() * 1000)
            for rec in records:
                rec.CreateTimestamp = rec.CreateTimestamp or now_ms
                rec.UpdateTimestamp = rec.UpdateTimestamp or now_ms
                self.records[rec.RecordId] = rec
                out.append(rec.RecordId)
            return out

    def reset(self) -> None:
        with self.lock:
            self.records.clear()

    def domain(self, name: str) -> list[DomainRecord]:
        """The records of ``name`` in RecordId order (InvalidDomainName.NoExist when it has none)."""
        with self.lock:
            found = [r for _, r in sorted(self.records.items(), key=lambda kv: int(kv[0])) if r.DomainName == name]
            if not found:
                raise not_found("domain")
            return [r.model_copy() for r in found]

    def get(self, rid: str) -> DomainRecord:
        with self.lock:
            rec = self.records.get(rid)
            if rec is None:
                raise not_found("record")
            return rec.model_copy()

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.model_dump() for _, r in sorted(self.records.items(), key=lambda kv: int(kv[0]))]

    def update(self, who: dict[str, Any], rid: str, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (RR, Type, Value, TTL, Line, Priority); unchanged RR/Type/Value/Line -> duplicate."""
        with self.lock:
            rec = self.records.get(rid)
            if rec is None:
                raise not_found("record")
            if all(getattr(rec, k) == changes[k] for k in ("RR", "Type", "Value", "Line")):
                raise DUPLICATE
            before = rec.Value
            updated = rec.model_copy(update={k: v for k, v in changes.items() if v is not None})
            DomainRecord.model_validate(updated.model_dump())
            updated.UpdateTimestamp = int(self.clock.now() * 1000)
            self.records[rid] = updated
            self.ledger.record_effect(
                {
                    "time": self.clock.now(),
                    "service": "alidns",
                    **who,
                    "targetType": "domainRecord",
                    "targetId": rid,
                    "from": before,
                    "to": updated.Value,
                    "rr": updated.RR,
                    "type": updated.Type,
                }
            )
