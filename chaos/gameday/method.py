"""The method: the scenario's steps during the run (faults armed, flips, clock moves, fault changes,
CloudMonitor records that happen mid-run: an outage that grows between two notifications).

Faults under ``method.faults`` are installed before the trigger. Each ``method.actions`` entry runs once,
when its ``when`` says: after the Nth matching ebs request (a request trigger on the emulator), before
trigger event i, or at a wall time after the trigger started. Flips that fired are remembered: the
judge's eligibility follows the state a target was flipped to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from chaos.gameday.client import RequestTrigger
from chaos.gameday.eligibility import TargetKey
from chaos.gameday.scenario import Action
from chaos.gameday.world import World, seed_cloud_monitor


class Method:
    def __init__(self, world: World) -> None:
        self.world = world
        self.fired_flips: dict[TargetKey, str] = {}
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def arm(self) -> None:
        """Install the faults and schedule every action that is not tied to an event step."""
        control = self.world.control
        if control is None:
            return
        method = self.world.sc.method
        if method.faults:
            control.set_faults(method.faults)
        for action in method.actions:
            when = action.when
            if when.requests is not None:
                control.on_request(RequestTrigger(when.requests, when.action, _bind(self.apply, action)))
            elif when.at_seconds is not None:
                timer = threading.Timer(when.at_seconds, self.apply, args=(action,))
                timer.daemon = True
                timer.start()
                self._timers.append(timer)

    def disarm(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def before_event(self, step: int) -> None:
        for action in self.world.sc.method.actions:
            if action.when.before_event == step:
                self.apply(action)

    def apply(self, action: Action) -> None:
        control = self.world.control
        if control is None:
            return
        if action.flip is not None:
            f = action.flip
            control.flip(f.kind, f.target, f.status, f.complete_to)
            with self._lock:
                self.fired_flips[(f.kind, f.target)] = f.status
        if action.clear_faults:
            control.clear_faults()
        if action.add_faults:
            control.add_faults(action.add_faults)
        if action.advance_clock:
            control.advance(action.advance_clock)
        if action.add_system_events or action.add_datapoints:
            seed_cloud_monitor(control, action.add_system_events or [], action.add_datapoints or [])
        if action.release is not None:
            for iid in action.release.unstick:
                control.hold_starting(iid, False)


def _bind(fn: Callable[[Action], None], action: Action) -> Callable[[], None]:
    return lambda: fn(action)
