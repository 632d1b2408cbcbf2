# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the netobs.cilium modules, each paired with its documentation fragment.

An option in ``SHARED`` has the same type, default and documentation in every module that has it: the module takes
the spec from :func:`build` and its DOCUMENTATION extends the fragment named in ``FRAGMENTS`` (instead of documenting
the option itself). ``tests/unit/plugins/modules/test_shared_options.py`` checks both for every module.

Options deliberately not shared: ``timeout`` (a watch of Events and a Hubble stream have different defaults, 300 and
30 seconds) and ``src`` (the spec is shared, ``type: path``, but what the file holds differs per module, so each
module documents it).
"""

from __future__ import annotations

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

FRAGMENT = 'netobs.cilium.common_options'

SHARED: dict[str, dict] = {
    'cilium_namespace': {'type': 'str', 'default': 'kube-system'},
    'namespaces': {'type': 'list', 'elements': 'str'},
    'since': {'type': 'str'},
    'allow_empty': {'type': 'bool', 'default': False},
    'max_drops': {'type': 'int', 'default': 100},
    'max_violations': {'type': 'int', 'default': 100},
    'src': {'type': 'path'},
}

# option -> the doc fragment (plugins/doc_fragments/common_options.py) that documents it; src is documented per module
FRAGMENTS: dict[str, str] = {name: '%s.%s' % (FRAGMENT, name) for name in SHARED if name != 'src'}


def auth() -> dict:
    """kubernetes.core's connection options (documented by the kubernetes.core.k8s_auth_options fragment)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def build(shared: tuple[str, ...] | list[str] = (), kubernetes: bool = True, **own: dict) -> dict:
    """An argument spec: the auth options (``kubernetes``), the ``shared`` options by name, then the module's ``own``."""
    spec = auth() if kubernetes else {}
    for name in shared:
        spec[name] = copy.deepcopy(SHARED[name])
    overlap = set(own) & set(shared)
    if overlap:
        raise ValueError('options %s are shared: take them from SHARED, do not redefine them' % ', '.join(sorted(overlap)))
    spec.update(own)
    return spec
