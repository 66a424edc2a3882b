"""Deployment artefacts: template.yml (real `fun validate`), the container server, events/ and the image files.

``container_server`` lives in functions/failover/ (the image's code dir, not an installed package), so
that directory is made importable here, once, before any test module in this package imports it.
"""

from __future__ import annotations

from pathlib import Path

from chaos.template import ensure_importable

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "functions" / "failover"

ensure_importable(FUNCTION_DIR)
