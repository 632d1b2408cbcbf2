# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a script of the repository (scripts/, tests/cluster/) as a module, by its path, for the tests."""

from __future__ import annotations

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_file(name: str, *relative: str):
    """The file ``REPO/<relative...>`` executed as a fresh module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, *relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
