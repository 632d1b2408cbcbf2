# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the tools ``make e2e`` needs before it starts (``molecule test -s kind``).

docker (with a reachable engine), kind, helm, kubectl and molecule must be on
PATH. Everything missing is listed at once with how to get it (Debian package,
pinned release URL + SHA-256); the exit status is 1 when anything is missing,
0 otherwise. molecule/kind/create.yml runs this script too (``--skip molecule``)
so a ``molecule test`` started by hand stops with the same message.

Usage: e2e_preflight.py [--skip TOOL ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

# Versions the end-to-end workflow (.github/workflows/e2e.yml) installs; a test
# keeps the two in step.
KIND_VERSION = 'v0.27.0'
KIND_SHA256 = 'a6875aaea358acf0ac07786b1a6755d08fd640f4c79b7a2e46681cc13f49a04b'
HELM_VERSION = 'v3.17.3'
HELM_SHA256 = 'ee88b3c851ae6466a3de507f7be73fe94d54cbf2987cbaa3d1a3832ea331f2cd'
KUBECTL_VERSION = 'v1.32.2'
KUBECTL_SHA256 = '4f6a959dcc5b702135f8354cc7109b542a2933c46b808b248a214c1f69f817ea'

KIND_URL = f'https://github.com/kubernetes-sigs/kind/releases/download/{KIND_VERSION}/kind-linux-amd64'
HELM_URL = f'https://get.helm.sh/helm-{HELM_VERSION}-linux-amd64.tar.gz'
KUBECTL_URL = f'https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/linux/amd64/kubectl'

TOOLS = {
    'docker': {
        'what': 'container engine that runs the kind nodes',
        'version': ['docker', '--version'],
        'how': [
            'Debian/Ubuntu package: sudo apt-get install docker.io (or Docker CE: https://docs.docker.com/engine/install/)',
        ],
    },
    'kind': {
        'what': 'Kubernetes in Docker - creates the test cluster',
        'version': ['kind', 'version'],
        'how': [
            f'release binary {KIND_VERSION}: {KIND_URL}',
            f'  (sha256 {KIND_SHA256}), then chmod +x and put it on PATH as "kind"',
            f'or: go install sigs.k8s.io/kind@{KIND_VERSION}   (no Debian package)',
        ],
    },
    'helm': {
        'what': 'installs the Cilium chart (netobs.cilium.install uses kubernetes.core.helm)',
        'version': ['helm', 'version', '--short'],
        'how': [
            f'release archive {HELM_VERSION}: {HELM_URL}',
            f'  (sha256 {HELM_SHA256}), extract linux-amd64/helm onto PATH   (no Debian package)',
        ],
    },
    'kubectl': {
        'what': 'used by the scenario and by the testinfra verification (kubectl:// backend)',
        'version': ['kubectl', 'version', '--client'],
        'how': [
            f'release binary {KUBECTL_VERSION}: {KUBECTL_URL}',
            f'  (sha256 {KUBECTL_SHA256}), then chmod +x and put it on PATH',
            'or the Kubernetes apt repository (package kubectl): https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/',
        ],
    },
    'molecule': {
        'what': 'runs the scenario molecule/kind',
        'version': None,
        'how': [
            'PyPI: pip install molecule pytest-testinfra (in this checkout: the .venv that make creates has both)',
        ],
    },
}

ENGINE_HOW = [
    'start the engine: sudo systemctl start docker (or start Docker Desktop)',
    'and allow your user to reach it: sudo usermod -aG docker "$USER", then log in again',
]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ''


def _run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, '', f'no answer within {timeout:.0f}s'
    except OSError as exc:
        return 127, '', str(exc)
    return result.returncode, result.stdout, result.stderr


def check(skip: set[str], env: dict[str, str], out=None) -> int:
    """Print one line per tool (and how to get what is missing); return the exit status."""
    out = out or sys.stdout
    path = env.get('PATH', '')
    missing: list[str] = []
    print('e2e preflight: tools for `make e2e` (molecule test -s kind)', file=out)
    for name, tool in TOOLS.items():
        if name in skip:
            continue
        found = shutil.which(name, path=path)
        if not found:
            missing.append(name)
            print(f'  MISSING  {name:<9} {tool["what"]}', file=out)
            for line in tool['how']:
                print(f'           {line}', file=out)
            beside = os.path.join(os.path.dirname(sys.executable), name)
            if os.access(beside, os.X_OK):
                print(f'           ({beside} exists: put {os.path.dirname(beside)} on PATH - molecule starts ansible-playbook and pytest from PATH)',
                      file=out)
            continue
        version = ''
        if tool['version']:
            code, stdout, stderr = _run([found] + tool['version'][1:], env, timeout=15)
            version = _first_line(stdout if code == 0 else stderr)
        print(f'  ok       {name:<9} {found}' + (f'  ({version})' if version else ''), file=out)
        if name == 'docker':
            code, stdout, stderr = _run([found, 'info', '--format', '{{.ServerVersion}}'], env, timeout=30)
            if code != 0 or not stdout.strip():
                missing.append('docker engine')
                print(f'  MISSING  {"engine":<9} the docker CLI cannot reach a Docker engine: {_first_line(stderr) or "no server version"}',
                      file=out)
                for line in ENGINE_HOW:
                    print(f'           {line}', file=out)
            else:
                print(f'  ok       {"engine":<9} Docker engine {stdout.strip()}', file=out)
    if missing:
        print(f'e2e preflight: FAILED - missing: {", ".join(missing)}. Install what is listed above (see docs/e2e.md) '
              'and run `make e2e` again.', file=out)
        return 1
    print('e2e preflight: all tools present', file=out)
    return 0


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--skip', action='append', default=[], choices=sorted(TOOLS), help='do not check this tool (repeatable)')
    args = parser.parse_args(argv)
    return check(set(args.skip), dict(os.environ) if env is None else env)


if __name__ == '__main__':
    sys.exit(main())
