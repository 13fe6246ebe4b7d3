"""`warded --help` and the parser load only what they need: no policy engine, SQL parser or benchmark suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import contextlib, io, json, sys
from warded.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlglot", "cedarpy", "agentdojo", "numpy")
    or m.startswith(("warded.gateway", "warded.policy", "warded.scan.scanners")))))
"""


def test_help_imports_no_heavy_module() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, timeout=60)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"`warded --help` imported {loaded} (should load only the parser)"
