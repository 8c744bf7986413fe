"""Shared ending of the benchmark scripts: print the result as one JSON line, optionally save it."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, path: Path | None = None) -> int:
    """Print ``result`` as JSON (and write it to ``path`` when given); returns exit status 0."""
    text = json.dumps(result)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(text)
    return 0
