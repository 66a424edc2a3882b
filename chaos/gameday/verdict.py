"""What one check of the hypothesis found (:class:`Verdict`), and how offenders are named in messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_NAMED = 8  # offenders named in a message; ``offenders`` carries them all


@dataclass(frozen=True)
class Verdict:
    """What one check found; the table adds its name."""

    ok: bool
    expected: str
    measured: Any
    message: str = ""
    offenders: Any = None


def short(keys: Iterable[tuple[str, str] | str]) -> str:
    """The first :data:`MAX_NAMED` ids (a target key names its id), then how many more."""
    names = [k if isinstance(k, str) else k[1] for k in keys]
    more = f" (+{len(names) - MAX_NAMED} more)" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more
