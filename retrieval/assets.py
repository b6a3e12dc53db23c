"""Where the bundled runbooks and prompts are: the data packages `ballast_runbooks` and `ballast_prompts`.

In a source checkout or an editable install they are the repo's `runbooks/` and `prompts/`
folders; a regular install (the container image) carries them in site-packages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from retrieval.errors import RetrievalError


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location)
        if path.is_dir():
            return path
    raise RetrievalError(f"the bundled {name} data is not installed: reinstall Ballast (pip install .)")


def bundled_runbooks() -> Path:
    return _package_folder("ballast_runbooks")


def bundled_prompts() -> Path:
    return _package_folder("ballast_prompts")
