# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates an empty virtual environment for each sanity test and seeds
pip into it by running ``get-pip-<version>.py`` fetched from
https://ci-files.testing.ansible.com/. Air-gapped machines cannot reach that host,
but can usually reach a package index. ``scripts/sanity_bootstrap.py`` installs this
file into ansible-test's cache (``~/.ansible/test/cache/get_pip_<version>.py``)
only when the real script cannot be downloaded. It then:

1. seeds pip from the interpreter's own ``ensurepip`` wheel (no network), and
2. runs ``pip install <the same arguments>`` so the pip version ansible-test asked
   for comes from the configured package index (PyPI or a mirror).

Arguments that only get-pip.py understands (``--no-setuptools``/``--no-wheel``)
are dropped; everything else is passed to pip unchanged.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def main(argv: list[str]) -> int:
    """Seed pip with ensurepip, then install the requested packages with it."""
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]
    # ensurepip disables pip's configuration in os.environ (PIP_CONFIG_FILE=/dev/null);
    # keep the caller's environment so the second step sees the index, proxy and CA settings.
    environment = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    if not pip_args:
        return 0
    return subprocess.call([sys.executable, '-m', 'pip', 'install', *pip_args], env=environment)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
