"""The ``/_emulator/`` control plane: seed, inspect, inject faults, move the clock, configure.

JSON in, JSON out, every body validated by a pydantic model; documented in docs/emulator.md.
Errors answer ``{"error": <what>, "details": [...]}`` with 400 (bad document) or 404.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from chaos.emulator.faults import FaultRule
from chaos.emulator.fc import FunctionSpec
from chaos.emulator.models import PAIR_STATUSES, FleetSpec, SeedGroups, SeedPairs

if TYPE_CHECKING:
    from chaos.emulator.app import Emulator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResetBody(_Body):
    config: bool = False


class FlipBody(_Body):
    Status: str
    complete_to: str | None = Field(default=None, alias="completeTo")

    @model_validator(mode="after")
    def _known(self) -> FlipBody:
        for s in (self.Status, self.complete_to):
            if s is not None and s not in PAIR_STATUSES:
                raise ValueError(f"unknown status {s!r}")
        return self


class ClockBody(_Body):
    advance: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    freeze: bool | None = None


class FaultsBody(_Body):
    rules: list[FaultRule] = Field(max_length=1000)


class WaitBody(_Body):
    timeout: float = Field(default=30.0, gt=0, le=600)


class ControlError(Exception):
    def __init__(self, status: int, error: str, details: list[Any] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []


URLS = Map(
    [
        Rule("/_emulator/health", endpoint="health", methods=["GET"]),
        Rule("/_emulator/reset", endpoint="reset", methods=["POST"]),
        Rule("/_emulator/pairs", endpoint="pairs", methods=["GET", "POST"]),
        Rule("/_emulator/pairs/<rid>", endpoint="pair", methods=["GET", "PATCH"]),
        Rule("/_emulator/groups", endpoint="groups", methods=["GET", "POST"]),
        Rule("/_emulator/groups/<rid>", endpoint="group", methods=["GET", "PATCH"]),
        Rule("/_emulator/fleet", endpoint="fleet", methods=["POST"]),
        Rule("/_emulator/ledger", endpoint="ledger", methods=["GET", "DELETE"]),
        Rule("/_emulator/faults", endpoint="faults", methods=["GET", "POST", "PATCH", "DELETE"]),
        Rule("/_emulator/clock", endpoint="clock", methods=["GET", "POST"]),
        Rule("/_emulator/config", endpoint="config", methods=["GET", "POST"]),
        Rule("/_emulator/functions", endpoint="functions", methods=["GET", "POST"]),
        Rule("/_emulator/fc/invocations", endpoint="fc_invocations", methods=["GET"]),
        Rule("/_emulator/fc/wait", endpoint="fc_wait", methods=["POST"]),
        Rule("/_emulator/quiesce", endpoint="quiesce", methods=["POST"]),
    ]
)


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ControlError(400, f"invalid {model.__name__} document", _errors(exc)) from None


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]


class ControlPlane:
    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, args = URLS.bind_to_environ(request.environ).match()
            result = getattr(self, f"on_{endpoint}")(request, **args)
            return _reply(200, result)
        except ControlError as exc:
            return _reply(exc.status, {"error": exc.error, "details": exc.details})
        except NotFound:
            return _reply(404, {"error": f"no control endpoint {request.method} {request.path}", "details": []})
        except HTTPException as exc:
            return _reply(exc.code or 400, {"error": exc.description or exc.name, "details": []})

    @staticmethod
    def _json(request: Request, default: Any = None) -> Any:
        raw = request.get_data(cache=True)
        if not raw.strip():
            if default is None:
                raise ControlError(400, "a JSON body is required")
            return default
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ControlError(400, f"body is not JSON: {exc}") from None

    # ---------------------------------------------------------------- misc
    def on_health(self, request: Request) -> dict[str, Any]:
        return {"ok": True, "region": self.em.region, "now": self.em.clock.now(), **self.em.ledger.counts()}

    def on_reset(self, request: Request) -> dict[str, Any]:
        body: ResetBody = _parse(ResetBody, self._json(request, {}))
        self.em.reset(config=body.config)
        return {"reset": True}

    # --------------------------------------------------------------- state
    def on_pairs(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedPairs = _parse(SeedPairs, self._json(request))
            try:
                return {"seeded": self.em.backend.seed_pairs(seed.pairs)}
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        with self.em.backend.lock:
            self.em.backend.settle()
            return {"pairs": [p.api() for _, p in sorted(self.em.backend.pairs.items())]}

    def on_groups(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedGroups = _parse(SeedGroups, self._json(request))
            try:
                return {"seeded": self.em.backend.seed_groups(seed.groups)}
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        with self.em.backend.lock:
            self.em.backend.settle()
            return {"groups": [g.api() for _, g in sorted(self.em.backend.groups.items())]}

    def _one(self, request: Request, kind: str, rid: str) -> dict[str, Any]:
        backend = self.em.backend
        if request.method == "PATCH":
            body: FlipBody = _parse(FlipBody, self._json(request))
            try:
                return backend.flip(
                    "pair" if kind == "pair" else "group", rid, body.Status, complete_to=body.complete_to
                )
            except KeyError:
                raise ControlError(404, f"no {kind} {rid}") from None
        with backend.lock:
            backend.settle()
            rec = backend.pairs.get(rid) if kind == "pair" else backend.groups.get(rid)
            if rec is None:
                raise ControlError(404, f"no {kind} {rid}")
            return rec.api()

    def on_pair(self, request: Request, rid: str) -> dict[str, Any]:
        return self._one(request, "pair", rid)

    def on_group(self, request: Request, rid: str) -> dict[str, Any]:
        return self._one(request, "group", rid)

    def on_fleet(self, request: Request) -> dict[str, Any]:
        spec: FleetSpec = _parse(FleetSpec, self._json(request))
        try:
            return self.em.backend.generate(spec)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    # -------------------------------------------------------------- ledger
    def on_ledger(self, request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            self.em.ledger.clear()
            return {"cleared": True}
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            raise ControlError(400, "since must be an integer") from None
        return self.em.ledger.snapshot(since=max(0, since))

    # -------------------------------------------------------------- faults
    def on_faults(self, request: Request) -> dict[str, Any]:
        faults, now, seed = self.em.faults, self.em.clock.now(), self.em.config().seed
        if request.method in ("POST", "PATCH"):
            data = self._json(request)
            body: FaultsBody = _parse(FaultsBody, {"rules": data} if isinstance(data, list) else data)
            if request.method == "POST":
                faults.set(body.rules, now, seed)
            else:
                faults.add(body.rules, now, seed)
        elif request.method == "DELETE":
            removed = faults.remove(request.args.get("id"))
            return {"removed": removed, "rules": faults.rules()}
        return {"rules": faults.rules()}

    # --------------------------------------------------------------- clock
    def on_clock(self, request: Request) -> dict[str, Any]:
        clock = self.em.clock
        if request.method == "POST":
            body: ClockBody = _parse(ClockBody, self._json(request))
            if body.freeze is not None:
                clock.freeze(body.freeze)
            if body.advance:
                self.em.advance(body.advance)
        return {"now": clock.now(), "frozen": clock.frozen}

    # -------------------------------------------------------------- config
    def on_config(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            patch = self._json(request)
            if not isinstance(patch, dict):
                raise ControlError(400, "config must be a JSON object")
            try:
                self.em.update_config(patch)
            except ValidationError as exc:
                raise ControlError(400, "invalid EmulatorConfig document", _errors(exc)) from None
        return self.em.config().model_dump(by_alias=True, exclude={"credentials"}) | {
            # secrets never leave through the control plane
            "credentials": [
                c.model_dump(by_alias=True, exclude={"access_key_secret", "security_token"})
                for c in self.em.config().credentials
            ]
        }

    # ------------------------------------------------------------------ FC
    def on_functions(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            spec: FunctionSpec = _parse(FunctionSpec, self._json(request))
            self.em.fc.register(spec)
        return {"functions": [f.model_dump(by_alias=True) for f in self.em.fc.functions()]}

    def on_fc_invocations(self, request: Request) -> dict[str, Any]:
        return {"invocations": self.em.fc.invocations(), "asyncFailures": self.em.fc.async_failures()}

    def on_quiesce(self, request: Request) -> dict[str, Any]:
        body: WaitBody = _parse(WaitBody, self._json(request, {}))
        return {"quiet": self.em.wait_quiet(body.timeout)}

    def on_fc_wait(self, request: Request) -> dict[str, Any]:
        body: WaitBody = _parse(WaitBody, self._json(request, {}))
        return {"idle": self.em.fc.wait_idle(body.timeout)}


def _reply(status: int, body: Any) -> Response:
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")
