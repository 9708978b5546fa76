"""Make ``tests/strategies.py`` importable as ``strategies`` (tests/ has no __init__.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[2])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
