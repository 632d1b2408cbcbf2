# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``netobs.cilium.cilium_config_info`` does: gather the objects (saved files or live), evaluate, summarise.

The checks themselves are in ``install/config.py``; this file is the run around them, without Ansible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ansible_collections.netobs.cilium.plugins.module_utils.install import config as cilium_config


def check_installation(*, src: str | None = None, clusterrole_src: str | None = None, namespace: str = 'kube-system',
                       configmap_name: str = 'cilium-config', clusterrole_name: str = 'cilium', cilium_version: str | None = None,
                       required_checks: Iterable[str] = (), connect: Callable | None = None) -> tuple[dict, list[str]]:
    """``(result, warnings)`` of the module: the checks for saved objects (``src``) or for the live cluster.

    ``connect()`` returns a ``KubeAPI`` (only called without ``src``). Raises ``CiliumConfigError`` for an unusable
    ``src`` and ``KubeAPIError`` when the credentials are rejected or the API server cannot be reached.
    """
    requests = 0
    if src:
        try:
            inputs = cilium_config.gather_offline(src, configmap_name, clusterrole_src, clusterrole_name)
        except cilium_config.CiliumConfigError as exc:
            raise cilium_config.CiliumConfigError('cannot use src: %s' % exc) from None
        source = src
    else:
        if connect is None:
            raise ValueError('check_installation needs src or connect')
        # imported here: the kubernetes client takes ~0.4s to import and offline runs do not need it
        from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPIError
        api = connect()
        inputs = cilium_config.gather_live(api, namespace, configmap_name, clusterrole_name, KubeAPIError)
        requests = api.request_count
        source = 'cluster'
    configmap = inputs.get('configmap')
    version, version_source = cilium_config.detect_version(configmap if isinstance(configmap, dict) else None,
                                                           inputs.get('pods'), cilium_version)
    checks = cilium_config.evaluate(
        configmap, version=version, clusterrole=inputs.get('clusterrole'), clusterrole_error=inputs.get('clusterrole_error'),
        relay=inputs.get('relay'), relay_error=inputs.get('relay_error'), pods=inputs.get('pods'),
        pods_error=inputs.get('pods_error'), namespace=namespace, configmap_error=inputs.get('configmap_error'),
        clusterrole_name=clusterrole_name)
    summary = cilium_config.summarise(checks, list(required_checks))
    warnings = list(summary.pop('warnings'))
    if summary['unknown_required']:
        warnings.append('required_checks has unknown names %s; known: %s' % (', '.join(summary['unknown_required']),
                                                                             ', '.join(cilium_config.CHECK_NAMES)))
    result = dict(changed=False, checks=checks, version=version, version_source=version_source,
                  config=cilium_config.relevant_config(configmap), source=source, api_requests=requests, **summary)
    return result, warnings
