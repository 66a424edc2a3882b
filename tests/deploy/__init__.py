"""Deployment artefacts: template.yml (real `fun validate`), the container server, events/ and the image files.

``container_server`` lives in functions/failover/ (the image's code dir, not an installed package), so
it is put on sys.path here, once, before any test module in this package imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "functions" / "failover"

if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))
