# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the kubernetes.core collection into a collections directory.

Galaxy first (``ansible-galaxy collection install -r requirements.yml``); when
Galaxy cannot be reached (air-gapped machines, CI without Galaxy), fall back to
the ``ansible`` community package on PyPI, whose wheel bundles kubernetes.core,
and extract only ``ansible_collections/kubernetes/core`` from it.

Usage: get_kubernetes_core.py <collections-dir> <ansible-wheel-version> <galaxy-timeout-seconds>
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PREFIX = 'ansible_collections/kubernetes/core/'
SUPPORTED_MAJOR = 6


def installed_version(collections_dir: str) -> str | None:
    """Return the installed kubernetes.core version, or None."""
    manifest = os.path.join(collections_dir, PREFIX, 'MANIFEST.json')
    try:
        with open(manifest, encoding='utf-8') as handle:
            return json.load(handle)['collection_info']['version']
    except (OSError, ValueError, KeyError):
        return None


def from_galaxy(collections_dir: str, timeout: int) -> bool:
    """Try Ansible Galaxy; return True on success."""
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    command = [galaxy, 'collection', 'install', '-r', 'requirements.yml', '-p', collections_dir,
               '--timeout', str(timeout)]
    print('kubernetes.core: trying Ansible Galaxy: ' + ' '.join(command), flush=True)
    try:
        result = subprocess.run(command, timeout=timeout * 3, check=False, capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f'kubernetes.core: Galaxy unavailable ({exc})', flush=True)
        return False
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ['no output']
        print(f'kubernetes.core: Galaxy unavailable ({last[0]})', flush=True)
        return False
    return True


def from_pypi_wheel(collections_dir: str, ansible_version: str) -> None:
    """Extract kubernetes.core from the pinned ansible wheel on PyPI."""
    with tempfile.TemporaryDirectory(prefix='kcore-') as tmp:
        command = [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:',
                   '--dest', tmp, f'ansible=={ansible_version}']
        print('kubernetes.core: falling back to the ansible wheel on PyPI: ' + ' '.join(command), flush=True)
        subprocess.run(command, check=True)
        wheels = [name for name in os.listdir(tmp) if name.endswith('.whl')]
        if len(wheels) != 1:
            raise SystemExit(f'expected one ansible wheel in {tmp}, found {wheels}')
        target = os.path.join(collections_dir, PREFIX)
        shutil.rmtree(target, ignore_errors=True)
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
            members = [name for name in wheel.namelist() if name.startswith(PREFIX)]
            if not members:
                raise SystemExit(f'ansible=={ansible_version} does not contain {PREFIX}')
            for name in members:
                wheel.extract(name, collections_dir)


def main(argv: list[str]) -> int:
    """Entry point."""
    collections_dir, ansible_version, timeout = argv[0], argv[1], int(argv[2])
    os.makedirs(collections_dir, exist_ok=True)
    if not from_galaxy(collections_dir, timeout):
        from_pypi_wheel(collections_dir, ansible_version)
    version = installed_version(collections_dir)
    if version is None or int(version.split('.')[0]) != SUPPORTED_MAJOR:
        print(f'kubernetes.core: expected {SUPPORTED_MAJOR}.x, found {version}', file=sys.stderr)
        return 1
    print(f'kubernetes.core: {version} installed in {collections_dir}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
