"""The recovery map: which standby instance takes which secondary disks, which DNS records switch.

Two sources, combined: a file shipped with the function (env ``FAILOVER_RECOVERY_PLAN``, a path
relative to the code directory, JSON or YAML) and standby instance tags: ``replica-failover:standby-for``
= a pair id or a group id; the instance takes every secondary disk of that pair or group.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from replica_failover.errors import ConfigError, FailoverError
from replica_failover.recovery import PLAN_ENV as PLAN_ENV  # noqa: PLC0414 - re-exported: the map file variable

STANDBY_TAG = "replica-failover:standby-for"
MAX_FILE_BYTES = 1_000_000

Provider = Literal["alidns", "privatezone"]
RecordType = Literal["A", "AAAA", "CNAME", "TXT"]

_INSTANCE_ID = r"^i-[A-Za-z0-9_-]{1,64}$"
_TARGET_ID = r"^(pair|pg)-[A-Za-z0-9-]{1,64}$"


class RecoveryMapError(FailoverError):
    """The recovery map file cannot be read or does not validate; ``str()`` names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Standby(_Model):
    """A stopped (or running) instance in the DR zone that takes the secondary disks of ``takes``."""

    instance_id: str = Field(pattern=_INSTANCE_ID)
    takes: tuple[str, ...] = Field(min_length=1, description="pair ids (pair-...) and group ids (pg-...)")

    @model_validator(mode="after")
    def _ids(self) -> Standby:
        bad = [t for t in self.takes if not re.match(_TARGET_ID, t)]
        if bad:
            raise ValueError(f"not a pair or group id: {', '.join(bad)}")
        if len(set(self.takes)) != len(self.takes):
            raise ValueError("takes lists an id twice")
        return self


class Record(_Model):
    """A DNS record switched to ``value`` once every instance in ``after`` runs (and the hook passed)."""

    domain: str = Field(min_length=1, max_length=253, description="the zone: example.com")
    rr: str = Field(min_length=1, max_length=253, description="host record: www, @ for the apex")
    type: RecordType = "A"
    record_id: str | None = Field(default=None, min_length=1, description="found by domain+rr+type when absent")
    value: str = Field(min_length=1, max_length=512, description="the DR value")
    after: tuple[str, ...] = Field(default=(), description="instance ids that must run before the switch")
    provider: Provider = "alidns"
    zone_id: str | None = Field(default=None, min_length=1, description="PrivateZone zone id (privatezone only)")
    ttl: int | None = Field(default=None, ge=1, le=86400)

    @model_validator(mode="after")
    def _provider(self) -> Record:
        if self.provider == "privatezone" and not self.zone_id:
            raise ValueError("a privatezone record needs zoneId")
        if self.provider == "alidns" and self.zone_id:
            raise ValueError("zoneId is for privatezone records only")
        return self

    @property
    def key(self) -> str:
        """Stable name of the record in results and logs."""
        host = self.domain if self.rr == "@" else f"{self.rr}.{self.domain}"
        return f"{self.provider}:{host}/{self.type}"


class Hook(_Model):
    """An FC function invoked (sync) before the traffic switch; a non-error answer lets it go ahead."""

    function: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    service: str | None = Field(default=None, min_length=1, max_length=128)
    qualifier: str | None = Field(default=None, min_length=1, max_length=128)


class RecoveryMap(_Model):
    version: Literal[1] = 1
    standbys: tuple[Standby, ...] = ()
    records: tuple[Record, ...] = ()
    hook: Hook | None = None

    @model_validator(mode="after")
    def _unique(self) -> RecoveryMap:
        seen: dict[str, str] = {}
        for s in self.standbys:
            if s.instance_id in seen:
                raise ValueError(f"standby {s.instance_id} is listed twice")
            seen[s.instance_id] = s.instance_id
        taken: dict[str, str] = {}
        for s in self.standbys:
            for t in s.takes:
                if t in taken:
                    raise ValueError(f"{t} is taken by two standbys: {taken[t]} and {s.instance_id}")
                taken[t] = s.instance_id
        keys = [r.key for r in self.records]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"record listed twice: {', '.join(dup)}")
        return self

    def standby_for(self, target_id: str) -> str | None:
        return next((s.instance_id for s in self.standbys if target_id in s.takes), None)


def schema() -> dict[str, Any]:
    """The file form as JSON Schema (what ``replica-failover recovery schema`` prints)."""
    out = RecoveryMap.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "replica-failover recovery map"
    return out


def _errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(top)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_map(data: object, origin: str = "recovery map") -> RecoveryMap:
    if not isinstance(data, dict):
        raise RecoveryMapError(f"{origin}: the top level must be a mapping, not {type(data).__name__}")
    try:
        return RecoveryMap.model_validate(data)
    except ValidationError as exc:
        raise RecoveryMapError(f"{origin}: {_errors(exc)}") from None


def load_map(path: Path) -> RecoveryMap:
    """Read and validate a JSON or YAML (by suffix) recovery map file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecoveryMapError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise RecoveryMapError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecoveryMapError(f"{path}: not UTF-8") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only a YAML map pays for the import

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RecoveryMapError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecoveryMapError(f"{path}: not valid JSON: {exc}") from None
    else:
        raise RecoveryMapError(f"{path}: use a .json, .yaml or .yml file")
    return parse_map(data, str(path))


def map_from_env(code_dir: Path, env: Mapping[str, str] | None = None) -> RecoveryMap | None:
    """The file named by FAILOVER_RECOVERY_PLAN (relative to ``code_dir``), or None when unset."""
    value = (os.environ if env is None else env).get(PLAN_ENV, "").strip()
    if not value:
        return None
    rel = Path(value)
    if rel.is_absolute() or ".." in rel.parts:
        raise ConfigError(PLAN_ENV, "must be a path inside the code directory, relative to it")
    try:
        return load_map(code_dir / rel)
    except RecoveryMapError as exc:
        raise ConfigError(PLAN_ENV, str(exc)) from None


def tags_of(record: Mapping[str, Any]) -> dict[str, str]:
    """Tags of a described resource, in either shape: ``Tags: [..]`` or ``Tags: {Tag: [..]}``."""
    tags = record.get("Tags") or []
    if isinstance(tags, dict):
        tags = tags.get("Tag") or []
    if not isinstance(tags, list):
        return {}
    return {str(t.get("TagKey")): str(t.get("TagValue") or "") for t in tags if isinstance(t, dict)}


def standbys_from_tags(instances: Iterable[Mapping[str, Any]]) -> tuple[tuple[Standby, ...], list[str]]:
    """Standbys declared by the ``replica-failover:standby-for`` tag, and why any tag was not taken."""
    out: list[Standby] = []
    problems: list[str] = []
    for inst in instances:
        value = tags_of(inst).get(STANDBY_TAG)
        if value is None:
            continue
        iid = str(inst.get("InstanceId", ""))
        target = value.strip()
        if not re.match(_TARGET_ID, target) or not re.match(_INSTANCE_ID, iid):
            problems.append(f"{iid or '?'}: tag {STANDBY_TAG}={value!r} is not a pair or group id")
            continue
        out.append(Standby(instance_id=iid, takes=(target,)))
    return tuple(out), problems


def combine(file_map: RecoveryMap | None, tagged: Iterable[Standby]) -> tuple[RecoveryMap, list[str]]:
    """The file's map plus the tagged standbys. A tag that repeats the file is one standby; a tag
    that disagrees with the file (another target, or a target the file gives another instance) is
    left out and reported: two maps claiming one instance or one target is a conflict, not a merge."""
    base = file_map or RecoveryMap()
    standbys = list(base.standbys)
    conflicts: list[str] = []
    for tag in tagged:
        owner = base.standby_for(tag.takes[0])
        mine = next((s for s in base.standbys if s.instance_id == tag.instance_id), None)
        if mine is not None and tag.takes[0] in mine.takes:
            continue
        if mine is not None:
            conflicts.append(
                f"{tag.instance_id}: the file maps it to {', '.join(mine.takes)}, its tag to {tag.takes[0]}"
            )
        elif owner is not None:
            conflicts.append(f"{tag.takes[0]}: the file gives it to {owner}, a tag to {tag.instance_id}")
        elif any(tag.takes[0] in s.takes for s in standbys):
            holder = next(s.instance_id for s in standbys if tag.takes[0] in s.takes)
            conflicts.append(f"{tag.takes[0]}: tagged on two instances, {holder} and {tag.instance_id}")
        else:
            standbys.append(tag)
    return base.model_copy(update={"standbys": tuple(standbys)}), conflicts
