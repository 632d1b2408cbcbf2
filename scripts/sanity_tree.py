# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lay out a real ``ansible_collections/netobs/cilium`` tree for ansible-test and run ``ansible-test sanity``.

ansible-test resolves symlinks, so the collection is *copied* (files tracked by git plus
untracked files that are not ignored) into ``~/.cache/netobs-cilium/sanity/ansible_collections/netobs/cilium``
(or ``$NETOBS_SANITY_ROOT/...``), next to a copy of the kubernetes.core dependency.

It also makes ansible-test work on air-gapped machines: ansible-test seeds pip into every
sanity virtual environment with ``get-pip-<version>.py`` downloaded from
https://ci-files.testing.ansible.com/. When that download fails, ``scripts/get_pip_offline.py``
is installed in ansible-test's cache instead (it seeds pip from ``ensurepip`` and the package
index). Set ``NETOBS_SANITY_OFFLINE_PIP=always`` to use the offline script even when the host is
reachable, or ``never`` to disable the fallback.

Usage: sanity_tree.py [ansible-test sanity arguments...]
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Outside the checkout: inside it, ansible-test would ask git which files exist and see none
# (.cache is ignored). NETOBS_SANITY_ROOT lets parallel runs use separate trees.
SANITY_ROOT = os.path.join(os.environ.get('NETOBS_SANITY_ROOT', os.path.expanduser('~/.cache/netobs-cilium/sanity')), 'ansible_collections')
TARGET = os.path.join(SANITY_ROOT, 'netobs', 'cilium')
KCORE_SOURCE = os.path.join(REPO, '.cache', 'collections', 'ansible_collections', 'kubernetes', 'core')
KCORE_TARGET = os.path.join(SANITY_ROOT, 'kubernetes', 'core')
GET_PIP_URL = 'https://ci-files.testing.ansible.com/ansible-test/get-pip-{version}.py'


def collection_files() -> list[str]:
    """Files of the collection: tracked plus untracked-but-not-ignored, as git sees them."""
    output = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=REPO, check=True, capture_output=True).stdout
    return sorted({name for name in output.decode('utf-8').split('\0') if name and os.path.isfile(os.path.join(REPO, name))})


def copy_tree() -> int:
    """Mirror the collection files into the sanity tree; return the number of files."""
    shutil.rmtree(TARGET, ignore_errors=True)
    files = collection_files()
    for name in files:
        destination = os.path.join(TARGET, name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), destination)
    if not os.path.isdir(KCORE_SOURCE):
        raise SystemExit(f'kubernetes.core is missing at {KCORE_SOURCE}: run `make deps` first')
    if not os.path.isdir(KCORE_TARGET):
        shutil.copytree(KCORE_SOURCE, KCORE_TARGET)
    return len(files)


def ansible_test_pip_version() -> str:
    """The pip version ansible-test bootstraps into its virtual environments."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_test._internal.python_requirements import get_venv_packages  # type: ignore[import-not-found]

    class _Python:  # the function only reads .version
        version = f'{sys.version_info.major}.{sys.version_info.minor}'

    return get_venv_packages(_Python())['pip']  # type: ignore[arg-type]


def ensure_pip_bootstrap() -> str:
    """Make sure ansible-test's pip bootstrap script is cached; return a one-line description."""
    version = ansible_test_pip_version()
    cache = os.path.expanduser(f'~/.ansible/test/cache/get_pip_{version.replace(".", "_")}.py')
    mode = os.environ.get('NETOBS_SANITY_OFFLINE_PIP', 'auto')
    if os.path.exists(cache) and mode != 'always':
        return f'pip {version} bootstrap: cached ({cache})'
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    if mode != 'always':
        try:
            with urllib.request.urlopen(GET_PIP_URL.format(version=version), timeout=15) as response:  # nosec B310 - fixed https URL
                data = response.read()
            with open(cache, 'wb') as handle:
                handle.write(data)
            return f'pip {version} bootstrap: downloaded from ci-files.testing.ansible.com'
        except OSError as exc:
            if mode == 'never':
                raise SystemExit(f'cannot download the pip bootstrap script ({exc}) and NETOBS_SANITY_OFFLINE_PIP=never') from exc
            reason = str(exc)
    else:
        reason = 'NETOBS_SANITY_OFFLINE_PIP=always'
    shutil.copyfile(os.path.join(REPO, 'scripts', 'get_pip_offline.py'), cache)
    return f'pip {version} bootstrap: offline fallback (ensurepip + package index) because: {reason}'


def main(argv: list[str]) -> int:
    """Copy the tree and run ansible-test sanity with the given arguments."""
    ignores = glob.glob(os.path.join(REPO, 'tests', 'sanity', 'ignore-*.txt'))
    if ignores:
        print(f'sanity: ignore files are not allowed in this collection: {ignores}', file=sys.stderr)
        return 1
    count = copy_tree()
    print(f'sanity: copied {count} files to {TARGET}', flush=True)
    print('sanity: ' + ensure_pip_bootstrap(), flush=True)
    ansible_test = os.path.join(os.path.dirname(sys.executable), 'ansible-test')
    command = [ansible_test, 'sanity', '--python', f'{sys.version_info.major}.{sys.version_info.minor}', '--color', 'no', *argv]
    print('sanity: ' + ' '.join(command), flush=True)
    return subprocess.call(command, cwd=TARGET)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
