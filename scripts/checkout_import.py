# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import this checkout's plugins/module_utils under their collection names, from any Python and any directory.

The module_utils import their siblings as ``ansible_collections.netobs.cilium.plugins.module_utils...``. A script
run by a bare ``python3`` (molecule's create step on a fresh clone, ``make cluster``, the docs generator) has no
installed collection and no PYTHONPATH, so this makes ``ansible_collections/netobs/cilium`` point at the checkout
through a symlink kept outside the repository (default ``~/.cache/netobs-import``) and imports from there.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PREFIX = 'ansible_collections.netobs.cilium.'


def _link_root(cache: Path) -> Path:
    link = cache / 'ansible_collections' / 'netobs' / 'cilium'
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == ROOT):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT, target_is_directory=True)
    return cache


def import_module_utils(relative: str, cache: Path | None = None) -> ModuleType:
    """``import_module_utils('install.values')``: plugins/module_utils/install/values.py of this checkout."""
    name = PREFIX + 'plugins.module_utils.' + relative
    expected = ROOT / 'plugins' / 'module_utils' / Path(*relative.split('.')).with_suffix('.py')
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        found = None
    if found is None or Path(found.origin or '').resolve() != expected:
        root = str(_link_root(cache or Path(os.environ.get('NETOBS_IMPORT_CACHE', Path.home() / '.cache' / 'netobs-import'))))
        if root not in sys.path:
            sys.path.insert(0, root)
        for loaded in [n for n in sys.modules if n == 'ansible_collections.netobs' or n.startswith('ansible_collections.netobs.')]:
            del sys.modules[loaded]
        importlib.invalidate_caches()
    module = importlib.import_module(name)
    if Path(module.__file__ or '').resolve() != expected:
        raise ImportError('%s came from %s, not from this checkout (%s)' % (name, module.__file__, expected))
    return module
