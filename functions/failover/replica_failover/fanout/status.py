"""``{"fanout": "status", "incidentKey": ...}``: the incident's batches, aggregated from their async tasks.

FC 3.0 only: ListAsyncTasks with the incident's task-id prefix (split.py), every page. Each worker's
returned result (``returnPayload``) gives its targets' outcomes; the summary adds them up. A worker
still running, retrying or given up (Failed/Expired: FC's on-failure destination has its last
result) counts its batch as pending. aliyun-fc2 has no call to list FC 2.0's stateful async
invocations, so on FC 2.0 the answer says so and points to the async destinations.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from replica_failover.fanout.dispatch import FcTarget
from replica_failover.fanout.ids import incident_prefix
from replica_failover.fanout.settings import FC3_API
from replica_failover.result import OUTCOMES

MAX_PAGES = 50  # 100 tasks a page; an incident has at most 1000 batches per generation
# FC 3.0 AsyncTask statuses after which a task never runs again
FINISHED = frozenset({"Succeeded", "Failed", "Expired", "Stopped", "Invalid"})


def incident_status(target: FcTarget, incident_key: str, *, timeout: float = 10.0) -> dict[str, Any]:
    prefix = incident_prefix(incident_key)
    base: dict[str, Any] = {"fanout": "status", "incidentKey": incident_key, "taskPrefix": prefix}
    if target.api_version != FC3_API:
        return {
            **base,
            "ok": False,
            "status": "unsupported",
            "reason": "FC 2.0 stateful async invocations cannot be listed through aliyun-fc2; "
            "read the workers' results at the async on-success/on-failure destinations",
        }
    try:
        tasks = _list_tasks(target, prefix, timeout)
    except Exception as exc:  # the SDK's error types; the message carries no credential
        return {**base, "ok": False, "status": "failed", "reason": f"ListAsyncTasks failed: {type(exc).__name__}"}
    return {**base, **aggregate(tasks)}


def unfinished_workers(target: FcTarget, incident_key: str, batches: int, *, timeout: float = 3.0) -> int:
    """The batches of this split (``batches`` of them) whose task has not finished, as FC 3.0 lists them.

    A batch with no task yet (not dispatched so far) counts as unfinished: the count only falls.
    """
    prefix = f"{incident_prefix(incident_key)}w{batches}-b"
    tasks = _list_tasks(target, prefix, timeout, pages=batches // 100 + 1)
    done = set()
    for task in tasks:
        index = str(task.get("taskId", ""))[len(prefix) :]
        if index.isdigit() and int(index) < batches and task.get("status") in FINISHED:
            done.add(int(index))
    return batches - len(done)


def aggregate(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Batches and target outcomes over the incident's task views (FC 3.0 AsyncTask, camelCase)."""
    states: Counter[str] = Counter()
    outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    batches = []
    failed_ids: list[str] = []
    for task in sorted(tasks, key=lambda t: str(t.get("taskId"))):
        state = str(task.get("status"))
        states[state] += 1
        worker = _returned(task)
        entry: dict[str, Any] = {"taskId": task.get("taskId"), "taskStatus": state}
        if worker is not None:
            entry.update(status=worker.get("status"), summary=worker.get("summary"))
            for k in OUTCOMES:
                outcomes[k] += int((worker.get("summary") or {}).get(k, 0))
            failed_ids += [t["id"] for t in worker.get("targets", []) if t.get("outcome") == "failed"]
            entry["rateShare"] = (worker.get("fanout") or {}).get("rateShare")
        batches.append(entry)
    done = sum(1 for b in batches if b.get("status") in ("completed", "partial", "noop", "planned"))
    running = len(batches) - done
    status = "running" if running else ("partial" if outcomes["failed"] else "completed")
    return {
        "ok": status == "completed",
        "status": status,
        "reason": f"{done} of {len(batches)} batch(es) finished" if batches else "no batches found",
        "tasks": dict(states),
        "summary": dict(outcomes),
        "failedTargets": sorted(failed_ids),
        "batches": batches,
    }


def _returned(task: dict[str, Any]) -> dict[str, Any] | None:
    raw = task.get("returnPayload")
    if not raw or task.get("status") != "Succeeded":
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _list_tasks(target: FcTarget, prefix: str, timeout: float, *, pages: int = MAX_PAGES) -> list[dict[str, Any]]:
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    proto, _, host = target.endpoint.partition("://")
    c = target.credentials
    ms = round(timeout * 1000)
    client = Client(
        Config(
            access_key_id=c.access_key_id,
            access_key_secret=c.access_key_secret,
            security_token=c.security_token,
            endpoint=host,
            protocol=proto,
            connect_timeout=ms,
            read_timeout=ms,
        )
    )
    tasks: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(min(pages, MAX_PAGES)):
        req = models.ListAsyncTasksRequest(prefix=prefix, limit=100, next_token=token)
        body = client.list_async_tasks(target.function, req).body
        tasks += [t.to_map() for t in body.tasks or []]
        token = body.next_token
        if not token:
            break
    return tasks
