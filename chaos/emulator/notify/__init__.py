"""Notification endpoints: a DingTalk-compatible custom robot and a generic JSON webhook receiver.

* ``service.py``: :class:`NotifyService` (``/robot/send``, ``/hooks/<name>``), the request
  handling and the control-plane surface (``configure_robots``, ``notifications``).
* ``robot.py``: the robot's message checks and documented ``errcode``/``errmsg`` answers.
* ``signing.py``: the robot's HMAC-SHA256 signature (``robot_signature``, ``signed_query``).
* ``store.py``: robots, their per-minute send windows, and every received request.
* ``models.py``: :class:`RobotSpec`, what ``POST /_emulator/robots`` accepts.
"""

from chaos.emulator.notify.models import RobotSpec
from chaos.emulator.notify.service import NotifyService
from chaos.emulator.notify.signing import robot_signature, signed_query

__all__ = ["NotifyService", "RobotSpec", "robot_signature", "signed_query"]
