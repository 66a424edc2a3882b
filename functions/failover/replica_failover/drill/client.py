"""The ebs calls a drill makes, through the official V2 SDK (``alibabacloud_ebs20210730``).

The legacy SDK has no drill operations. The SDK is imported when the first client is built, so the
failover path never pays for it. Every failure becomes a :class:`DrillApiError` carrying the API's
code and HTTP status only: no message text (a signature error echoes the string to sign).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from replica_failover.credentials import Credentials

Kind = Literal["pair", "group"]
# transport failures and 5xx answers: the call may or may not have happened
TRANSIENT_CODES = frozenset({"ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "Throttling.User"})


class DrillApiError(Exception):
    def __init__(self, code: str, status: int | None) -> None:
        super().__init__(f"{code} (HTTP {status})" if status else code)
        self.code = code
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.code in TRANSIENT_CODES


@dataclass(frozen=True)
class Target:
    """A replica pair or group as the DR site describes it."""

    kind: Kind
    id: str
    status: str
    source_region: str
    destination_region: str
    last_recover_point: int
    group_id: str = ""
    tags: tuple[tuple[str, str], ...] = field(default=())


class DrillApi(Protocol):
    def targets(self, region: str, kind: Kind, ids: list[str] | None, tags: dict[str, str]) -> list[Target]: ...

    def start(self, region: str, kind: Kind, target_id: str, client_token: str) -> str: ...

    def drills(self, region: str, kind: Kind, target_id: str) -> list[dict[str, Any]]: ...

    def clear(self, region: str, kind: Kind, target_id: str, drill_id: str) -> None: ...


class EbsDrillClient:
    """:class:`DrillApi` over ``alibabacloud_ebs20210730``; ``endpoint`` overrides the regional one."""

    def __init__(
        self, credentials: Credentials, *, endpoint: str | None = None, connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self._credentials = credentials
        self._endpoint = endpoint
        self._timeouts = (int(connect_timeout * 1000), int(read_timeout * 1000))
        self._clients: dict[str, Any] = {}

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            from alibabacloud_ebs20210730.client import Client
            from alibabacloud_tea_openapi.utils_models import Config

            c = self._credentials
            endpoint = self._endpoint or f"ebs.{region}.aliyuncs.com"
            protocol = "http" if endpoint.startswith("http://") else "https"
            config = Config(
                access_key_id=c.access_key_id, access_key_secret=c.access_key_secret,
                security_token=c.security_token, region_id=region, protocol=protocol,
                endpoint=endpoint.split("://", 1)[-1].rstrip("/"),
                connect_timeout=self._timeouts[0], read_timeout=self._timeouts[1],
            )  # fmt: skip
            client = self._clients[region] = Client(config)
        return client

    def _call(self, region: str, method: str, request: Any) -> Any:
        try:
            return getattr(self._client(region), method)(request).body
        except Exception as exc:  # the SDK's exception tree: Tea/darabonba, transport errors
            code = getattr(exc, "code", None)
            status = getattr(exc, "status_code", None)
            if not isinstance(code, str) or not code:
                raise DrillApiError("SDK.HttpError", None) from None
            raise DrillApiError(code, int(status) if isinstance(status, int) else None) from None

    def targets(self, region: str, kind: Kind, ids: list[str] | None, tags: dict[str, str]) -> list[Target]:
        from alibabacloud_ebs20210730 import models as m

        out: list[Target] = []
        token = ""
        for _ in range(10_000):  # bounded: 500 per page
            tag_list = [
                (m.DescribeDiskReplicaPairsRequestTag if kind == "pair" else m.DescribeDiskReplicaGroupsRequestTag)(
                    key=k, value=v
                )
                for k, v in sorted(tags.items())
            ]
            common: dict[str, Any] = {
                "region_id": region,
                "site": "backup",
                "max_results": 500,
                "tag": tag_list or None,
            }
            if token:
                common["next_token"] = token
            if kind == "pair":
                req: Any = m.DescribeDiskReplicaPairsRequest(pair_ids=",".join(ids) if ids else None, **common)
                body = self._call(region, "describe_disk_replica_pairs", req)
                for p in body.replica_pairs or []:
                    out.append(
                        Target("pair", p.replica_pair_id, p.status, p.source_region, p.destination_region,
                               int(p.last_recover_point or 0), p.replica_group_id or "")
                    )  # fmt: skip
            else:
                req = m.DescribeDiskReplicaGroupsRequest(group_ids=",".join(ids) if ids else None, **common)
                body = self._call(region, "describe_disk_replica_groups", req)
                for g in body.replica_groups or []:
                    out.append(
                        Target("group", g.replica_group_id, g.status, g.source_region_id, g.destination_region_id,
                               int(g.last_recover_point or 0))
                    )  # fmt: skip
            token = body.next_token or ""
            if not token:
                break
        return out

    def start(self, region: str, kind: Kind, target_id: str, client_token: str) -> str:
        from alibabacloud_ebs20210730 import models as m

        if kind == "pair":
            req: Any = m.StartPairDrillRequest(region_id=region, pair_id=target_id, client_token=client_token)
            return str(self._call(region, "start_pair_drill", req).drill_id)
        req = m.StartReplicaGroupDrillRequest(region_id=region, group_id=target_id, client_token=client_token)
        return str(self._call(region, "start_replica_group_drill", req).drill_id)

    def drills(self, region: str, kind: Kind, target_id: str) -> list[dict[str, Any]]:
        from alibabacloud_ebs20210730 import models as m

        out: list[dict[str, Any]] = []
        token = ""
        for _ in range(1_000):
            if kind == "pair":
                req: Any = m.DescribePairDrillsRequest(
                    region_id=region, pair_id=target_id, max_results=500, next_token=token or None
                )
                body = self._call(region, "describe_pair_drills", req)
            else:
                req = m.DescribeReplicaGroupDrillsRequest(
                    region_id=region, group_id=target_id, max_results=500, next_token=token or None
                )
                body = self._call(region, "describe_replica_group_drills", req)
            out.extend(d.to_map() for d in body.drills or [])
            token = body.next_token or ""
            if not token:
                break
        return out

    def clear(self, region: str, kind: Kind, target_id: str, drill_id: str) -> None:
        from alibabacloud_ebs20210730 import models as m

        if kind == "pair":
            req: Any = m.ClearPairDrillRequest(region_id=region, pair_id=target_id, drill_id=drill_id)
            self._call(region, "clear_pair_drill", req)
        else:
            req = m.ClearReplicaGroupDrillRequest(region_id=region, group_id=target_id, drill_id=drill_id)
            self._call(region, "clear_replica_group_drill", req)
