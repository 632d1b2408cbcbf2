# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.netobs.cilium`` (this checkout) and its dependencies importable for pytest.

``make test`` lays out ``.cache/collections/ansible_collections/`` with kubernetes.core
(extracted) and ``netobs/cilium`` as a symlink to this checkout. Plain ``pytest`` works
too once that directory exists; the symlink is created here if it is missing.
"""

from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, '.cache', 'collections')
NAMESPACE_DIR = os.path.join(COLLECTIONS_DIR, 'ansible_collections', 'netobs')
LINK = os.path.join(NAMESPACE_DIR, 'cilium')

if not os.path.lexists(LINK):
    os.makedirs(NAMESPACE_DIR, exist_ok=True)
    os.symlink(os.path.relpath(REPO_ROOT, NAMESPACE_DIR), LINK)

if COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, COLLECTIONS_DIR)

# The loopback test servers live in tests/servers and are imported as ``servers.<name>``.
TESTS_DIR = os.path.join(REPO_ROOT, 'tests')
if TESTS_DIR not in sys.path:
    sys.path.insert(1, TESTS_DIR)

# Child processes (ansible-playbook, ansible-doc) started by the tests find the same collections.
os.environ.setdefault('ANSIBLE_COLLECTIONS_PATH', COLLECTIONS_DIR)
