# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real single-node Kubernetes + Cilium on this machine, built from upstream sources.

    python3 tests/cluster/cluster.py up        # make cluster: build (cached), images, start, install Cilium
    python3 tests/cluster/cluster.py down      # make cluster-down: stop every process we started, clean up
    python3 tests/cluster/cluster.py status    # what runs, where the kubeconfig is
    python3 tests/cluster/cluster.py build     # only the binaries
    python3 tests/cluster/cluster.py build --only etcd,kube-apiserver   # what the real-apiserver tests need
    python3 tests/cluster/cluster.py images    # only the binaries and the OCI images

Everything is built from the Go module proxy through the wrapper modules next to this file
(``kubernetes/``, ``cilium/``, ``etcd/``, ``coredns/``, ``helm/``: each go.mod pins one release), and
from Debian's packages (containerd, runc, the image root filesystems). Nothing is pulled from a registry:
every image is packed here and imported into containerd under the exact name the manifests use.
Binaries, images and the image store live under ``$NETOBS_CLUSTER_CACHE`` (default
``~/.cache/netobs-cluster``), never in the repository. See docs/e2e.md.

Only the standard library is used; it runs as root (kubelet, containerd and Cilium need it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = Path(os.environ.get('NETOBS_CLUSTER_CACHE', Path.home() / '.cache' / 'netobs-cluster'))

NODE_NAME = 'netobs-node'
SERVICE_CIDR = '10.96.0.0/16'
KUBERNETES_SERVICE_IP = '10.96.0.1'
DNS_SERVICE_IP = '10.96.0.10'
CLUSTER_CIDR = '10.244.0.0/16'
CLUSTER_DOMAIN = 'cluster.local'
API_PORT = 6443
RUN_DIR = Path('/run/netobs-cluster')
CONTAINERD_SOCK = RUN_DIR / 'containerd' / 'containerd.sock'
KUBELET_ROOT = Path('/var/lib/kubelet')
CNI_BIN = Path('/opt/cni/bin')
CNI_CONF = Path('/etc/cni/net.d')
BPFFS = Path('/sys/fs/bpf')
CAP_SYS_RESOURCE = 24

# Debian packages the host needs (containerd 1.6 + runc run the pods; iptables for kube-proxy).
HOST_PACKAGES = ('containerd', 'runc', 'debootstrap', 'containernetworking-plugins', 'iptables', 'ipset',
                 'conntrack', 'iproute2', 'openssl', 'catatonit', 'socat', 'util-linux')
DEBIAN_MIRROR = os.environ.get('NETOBS_DEBIAN_MIRROR', 'http://deb.debian.org/debian')


class ClusterError(Exception):
    """A step failed: the message names the step, what failed and the log to read."""


# ---------------------------------------------------------------------------------------------------
# versions: the go.mod files are the single source of truth

def module_version(module_dir: str, module: str) -> str:
    text = (HERE / module_dir / 'go.mod').read_text()
    match = re.search(r'^\s*(?:require\s+)?%s\s+(v\S+)' % re.escape(module), text, re.M)
    if not match:
        raise ClusterError('tests/cluster/%s/go.mod does not require %s' % (module_dir, module))
    return match.group(1)


def versions() -> dict[str, str]:
    return {
        'kubernetes': module_version('kubernetes', 'k8s.io/kubernetes'),
        'cilium': module_version('cilium', 'github.com/cilium/cilium'),
        'etcd': module_version('etcd', 'go.etcd.io/etcd/server/v3'),
        'coredns': module_version('coredns', 'github.com/coredns/coredns'),
        'helm': module_version('helm', 'helm.sh/helm/v3'),
    }


def cache_key(v: dict[str, str]) -> str:
    return 'k8s-%s_cilium-%s' % (v['kubernetes'], v['cilium'])


class Layout:
    """Where everything lives for one pinned set of versions."""

    def __init__(self) -> None:
        self.versions = versions()
        self.key = cache_key(self.versions)
        self.base = CACHE / self.key
        self.bin = self.base / 'bin'
        self.images = self.base / 'images'
        self.rootfs = CACHE / 'rootfs'          # Debian root filesystems (shared by every version set)
        self.containerd_root = self.base / 'containerd'
        self.state = CACHE / 'state'             # the running cluster (one at a time)
        self.logs = self.state / 'logs'
        self.pids = self.state / 'pids'
        self.pki = self.state / 'pki'
        self.kubeconfig = self.state / 'kubeconfig'

    def ready_marker(self) -> Path:
        """Written when binaries and images for this version set are complete (CI checks it)."""
        return self.base / 'READY'


# ---------------------------------------------------------------------------------------------------
# output and commands

START = time.monotonic()


def say(message: str) -> None:
    print('[%6.1fs] %s' % (time.monotonic() - START, message), flush=True)


class Step:
    """Prints the step with its elapsed time; turns any failure into a ClusterError naming the step."""

    def __init__(self, name: str, log: Path | None = None) -> None:
        self.name = name
        self.log = log

    def __enter__(self) -> 'Step':
        self.started = time.monotonic()
        say('==> %s' % self.name)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        took = time.monotonic() - self.started
        if exc is None:
            say('    %s: done in %.1fs' % (self.name, took))
            return False
        if isinstance(exc, ClusterError):
            raise ClusterError('step "%s" failed after %.1fs: %s' % (self.name, took, exc)) from None
        if isinstance(exc, subprocess.CalledProcessError):
            where = ' (log: %s)' % self.log if self.log else ''
            raise ClusterError('step "%s" failed after %.1fs: %s exited %s%s' % (
                self.name, took, ' '.join(map(str, exc.cmd)), exc.returncode, where)) from None
        return False


def run(argv: list, log: Path | None = None, env: dict | None = None, cwd: Path | None = None,
        heartbeat: str | None = None, check: bool = True, timeout: float | None = None) -> int:
    """Run argv (never a shell string); output goes to ``log`` (appended) or is discarded.

    With ``heartbeat``, print a progress line every 60 s for long builds.
    """
    argv = [str(a) for a in argv]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, 'ab')
        out.write(('\n$ %s\n' % ' '.join(argv)).encode())
        out.flush()
    else:
        out = open(os.devnull, 'wb')
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        started = time.monotonic()
        while True:
            try:
                rc = proc.wait(timeout=60 if heartbeat else timeout)
                break
            except subprocess.TimeoutExpired:
                if timeout is not None and time.monotonic() - started > timeout:
                    proc.kill()
                    proc.wait()
                    raise ClusterError('%s did not finish within %ss' % (argv[0], timeout))
                if heartbeat:
                    say('    ... %s (%dm%02ds)' % (heartbeat, *divmod(int(time.monotonic() - started), 60)))
    finally:
        out.close()
    if check and rc != 0:
        raise subprocess.CalledProcessError(rc, argv)
    return rc


def capture(argv: list, env: dict | None = None, check: bool = True) -> str:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise ClusterError('%s exited %s: %s' % (' '.join(map(str, argv)), result.returncode,
                                                 (result.stderr or result.stdout).strip()[-800:]))
    return result.stdout


def require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError('make cluster needs root (kubelet, containerd, Cilium\'s BPF datapath); run it as root')


# ---------------------------------------------------------------------------------------------------
# binaries

def go_env() -> dict:
    env = dict(os.environ)
    env.setdefault('CGO_ENABLED', '0')
    env.setdefault('GOFLAGS', '-buildvcs=false')
    return env


def _builds(lay: Layout) -> list[dict]:
    v = lay.versions
    k8s = v['kubernetes']
    major, minor = k8s.lstrip('v').split('.')[:2]
    stamp = ['-X', 'k8s.io/component-base/version.gitVersion=%s' % k8s,
             '-X', 'k8s.io/component-base/version.gitMajor=%s' % major,
             '-X', 'k8s.io/component-base/version.gitMinor=%s' % minor,
             '-X', 'k8s.io/component-base/version.gitTreeState=clean',
             '-X', 'k8s.io/client-go/pkg/version.gitVersion=%s' % k8s,
             '-X', 'k8s.io/client-go/pkg/version.gitMajor=%s' % major,
             '-X', 'k8s.io/client-go/pkg/version.gitMinor=%s' % minor]
    # pkg/version.FromString wants "<version> <revision> <date>"; a build from the module zip has no git revision.
    cilium_stamp = ['-X', 'github.com/cilium/cilium/pkg/version.ciliumVersion=%s 0000000 2026-01-01T00:00:00+00:00'
                    % v['cilium'].lstrip('v'),
                    # the hubble CLI compares its own version with the server's and warns at 0.0.0
                    '-X', 'github.com/cilium/cilium/hubble/pkg.Version=%s' % v['cilium'].lstrip('v')]
    c = 'github.com/cilium/cilium/'
    return [
        {'name': 'kubernetes', 'dir': 'kubernetes', 'ldflags': stamp, 'tags': [],
         'outputs': {'k8s.io/kubernetes/cmd/%s' % n: n for n in (
             'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl')}},
        {'name': 'cilium', 'dir': 'cilium', 'ldflags': cilium_stamp, 'tags': ['osusergo'],
         'outputs': {c + 'daemon': 'cilium-agent', c + 'cilium-dbg': 'cilium-dbg', c + 'cilium-health': 'cilium-health',
                     c + 'cilium-health/responder': 'cilium-health-responder', c + 'tools/mount': 'cilium-mount',
                     c + 'tools/sysctlfix': 'cilium-sysctlfix', c + 'plugins/cilium-cni': 'cilium-cni',
                     c + 'hubble-relay': 'hubble-relay', c + 'hubble': 'hubble'}},
        # operator/Makefile: the generic operator is the operator built with the ipam_provider_operator tag.
        {'name': 'cilium-operator', 'dir': 'cilium', 'ldflags': cilium_stamp, 'tags': ['osusergo', 'ipam_provider_operator'],
         'outputs': {c + 'operator': 'cilium-operator-generic'}},
        {'name': 'etcd', 'dir': 'etcd', 'ldflags': [], 'tags': [],
         'outputs': {'github.com/netobs/cilium/tests/cluster/etcd': 'etcd'}},
        {'name': 'coredns', 'dir': 'coredns', 'ldflags': [], 'tags': [],
         'outputs': {'github.com/coredns/coredns': 'coredns'}},
        {'name': 'helm', 'dir': 'helm', 'ldflags': ['-X', 'helm.sh/helm/v3/internal/version.version=%s' % v['helm']], 'tags': [],
         'outputs': {'helm.sh/helm/v3/cmd/helm': 'helm'}},
    ]


def _build_fingerprint(spec: dict) -> str:
    digest = hashlib.sha256()
    for name in ('go.mod', 'go.sum'):
        path = HERE / spec['dir'] / name
        digest.update(path.read_bytes() if path.exists() else b'')
    digest.update(json.dumps([spec['ldflags'], spec['tags'], sorted(spec['outputs'].items())]).encode())
    digest.update(capture(['go', 'version']).encode())
    return digest.hexdigest()


def build(lay: Layout, only: set[str] | None = None) -> None:
    """Build the pinned binaries into ``lay.bin``; ``only``: just these outputs (e.g. {'etcd', 'kube-apiserver'})."""
    lay.bin.mkdir(parents=True, exist_ok=True)
    log_dir = lay.base / 'logs'
    specs = _builds(lay)
    if only:
        unknown = set(only) - {out for spec in specs for out in spec['outputs'].values()}
        if unknown:
            raise ClusterError('unknown binaries %s (known: %s)' % (', '.join(sorted(unknown)), ', '.join(
                sorted(out for spec in specs for out in spec['outputs'].values()))))
    for spec in specs:
        fingerprint = _build_fingerprint(spec)
        stamp = lay.bin / ('.%s.stamp' % spec['name'])
        wanted = {pkg: out for pkg, out in spec['outputs'].items() if not only or out in only}
        if not wanted:
            continue
        outputs = [lay.bin / out for out in wanted.values()]
        # a full build stamps the whole spec; a partial one (--only) stamps each binary it built
        stamped = stamp.exists() and stamp.read_text() == fingerprint
        if all(p.exists() and (stamped or _stamp_of(lay, p).exists() and _stamp_of(lay, p).read_text() == fingerprint) for p in outputs):
            say('    %s: cached (%s)' % (spec['name'], ', '.join(p.name for p in outputs)))
            continue
        log = log_dir / ('build-%s.log' % spec['name'])
        with Step('build %s (%s)' % (spec['name'], ', '.join(p.name for p in outputs)), log):
            with tempfile.TemporaryDirectory(dir=lay.bin) as tmp:
                # go splits -ldflags on spaces unless a value is quoted (the Cilium version string has spaces)
                ldflags = ' '.join("'%s'" % flag if ' ' in flag else flag for flag in ['-s', '-w'] + spec['ldflags'])
                argv = ['go', 'build', '-trimpath', '-ldflags', ldflags]
                if spec['tags']:
                    argv += ['-tags', ','.join(spec['tags'])]
                pkgs = list(wanted)
                # go build -o DIR names each binary after the last element of its package path.
                argv += ['-o', tmp + '/'] + pkgs
                run(argv, log=log, env=go_env(), cwd=HERE / spec['dir'], heartbeat='building %s' % spec['name'])
                for pkg, out in wanted.items():
                    os.replace(os.path.join(tmp, pkg.rstrip('/').rsplit('/', 1)[-1]), lay.bin / out)
            if len(wanted) == len(spec['outputs']):
                stamp.write_text(fingerprint)
            else:
                for path in outputs:
                    _stamp_of(lay, path).write_text(fingerprint)


def _stamp_of(lay: Layout, binary: Path) -> Path:
    return lay.bin / ('.%s.binary-stamp' % binary.name)


# ---------------------------------------------------------------------------------------------------
# images: Debian root filesystems + our binaries, packed as docker-archive tars and imported into containerd

def image_names(lay: Layout) -> dict[str, str]:
    """Image name per role; cilium's are the names the Helm chart renders with useDigest=false."""
    cv = lay.versions['cilium']
    return {
        'cilium': 'quay.io/cilium/cilium:%s' % cv,
        'operator': 'quay.io/cilium/operator-generic:%s' % cv,
        'relay': 'quay.io/cilium/hubble-relay:%s' % cv,
        'coredns': 'localhost/netobs-cluster/coredns:%s' % lay.versions['coredns'],
        'pause': 'localhost/netobs-cluster/pause:catatonit',
        'nginx': 'localhost/netobs-cluster/nginx:bookworm',
        'netshoot': 'localhost/netobs-cluster/netshoot:bookworm',
    }


# Debian packages per root filesystem (images/runtime/install-runtime-deps.sh lists the agent's needs).
ROOTFS_PACKAGES = {
    'base': [],
    'cilium': ['bash', 'iproute2', 'iptables', 'ipset', 'kmod', 'util-linux', 'procps', 'clang-19', 'llvm-19',
               'containernetworking-plugins', 'libelf1'],
    'nginx': ['nginx-light'],
    'netshoot': ['curl', 'iproute2', 'iputils-ping', 'dnsutils', 'netcat-openbsd', 'procps'],
}


def _chroot_apt(rootfs: Path, packages: list[str], log: Path) -> None:
    (rootfs / 'etc' / 'apt' / 'sources.list').write_text(
        'deb %s bookworm main\ndeb %s bookworm-updates main\n' % (DEBIAN_MIRROR, DEBIAN_MIRROR))
    shutil.copyfile('/etc/resolv.conf', rootfs / 'etc' / 'resolv.conf')
    # no service may start inside the chroot
    policy = rootfs / 'usr' / 'sbin' / 'policy-rc.d'
    policy.write_text('#!/bin/sh\nexit 101\n')
    policy.chmod(0o755)
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'DEBIAN_FRONTEND': 'noninteractive', 'LC_ALL': 'C'}
    run(['mount', '-t', 'proc', 'proc', rootfs / 'proc'], log=log)
    try:
        run(['chroot', rootfs, 'apt-get', 'update', '-qq'], log=log, env=env)
        run(['chroot', rootfs, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + packages, log=log, env=env)
        run(['chroot', rootfs, 'apt-get', 'clean'], log=log, env=env)
    finally:
        run(['umount', rootfs / 'proc'], log=log, check=False)
    policy.unlink()
    shutil.rmtree(rootfs / 'var' / 'lib' / 'apt' / 'lists', ignore_errors=True)
    (rootfs / 'var' / 'lib' / 'apt' / 'lists' / 'partial').mkdir(parents=True, exist_ok=True)
    (rootfs / 'etc' / 'resolv.conf').write_text('')


def rootfs(lay: Layout, name: str) -> Path:
    """A cached Debian bookworm root filesystem with ROOTFS_PACKAGES[name] installed."""
    lay.rootfs.mkdir(parents=True, exist_ok=True)
    target = lay.rootfs / name
    marker = lay.rootfs / ('.%s.done' % name)
    wanted = ' '.join(ROOTFS_PACKAGES[name])
    if target.exists() and marker.exists() and marker.read_text() == wanted:
        return target
    log = lay.rootfs / ('%s.log' % name)
    with Step('root filesystem %s (debian bookworm%s)' % (name, ' + ' + wanted if wanted else ''), log):
        tmp = lay.rootfs / ('%s.tmp' % name)
        shutil.rmtree(tmp, ignore_errors=True)
        if name == 'base':
            run(['debootstrap', '--variant=minbase', '--include=ca-certificates', 'bookworm', tmp, DEBIAN_MIRROR],
                log=log, heartbeat='debootstrap')
            shutil.rmtree(tmp / 'var' / 'cache' / 'apt' / 'archives', ignore_errors=True)
            (tmp / 'var' / 'cache' / 'apt' / 'archives' / 'partial').mkdir(parents=True, exist_ok=True)
        else:
            base = rootfs(lay, 'base')
            run(['cp', '-a', base, tmp], log=log)
            _chroot_apt(tmp, ROOTFS_PACKAGES[name], log)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        marker.write_text(wanted)
    return target


def _install(src: Path, dst: Path, mode: int = 0o755) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def _symlink(target: str, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def cilium_module_dir(lay: Layout) -> Path:
    gomodcache = capture(['go', 'env', 'GOMODCACHE']).strip()
    path = Path(gomodcache) / ('github.com/cilium/cilium@%s' % lay.versions['cilium'])
    if not path.is_dir():
        raise ClusterError('%s is missing: run the build step first (go mod download in tests/cluster/cilium)' % path)
    return path


def chart_dir(lay: Layout) -> Path:
    """The Helm chart shipped inside the Cilium module zip."""
    return cilium_module_dir(lay) / 'install' / 'kubernetes' / 'cilium'


def _populate(lay: Layout, role: str, root: Path) -> dict:
    """Copy our binaries into an image root; return the image config (Entrypoint/Cmd/Env/WorkingDir)."""
    b = lay.bin
    env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']
    if role == 'cilium':
        for name in ('cilium-agent', 'cilium-dbg', 'cilium-health', 'cilium-health-responder', 'cilium-mount',
                     'cilium-sysctlfix', 'hubble'):
            _install(b / name, root / 'usr' / 'bin' / name)
        _symlink('cilium-dbg', root / 'usr' / 'bin' / 'cilium')
        _install(b / 'cilium-cni', root / 'opt' / 'cni' / 'bin' / 'cilium-cni')
        _install(Path(root / 'usr' / 'lib' / 'cni' / 'loopback'), root / 'cni' / 'loopback')
        # the agent compiles its datapath at run time with clang/llc from PATH (Debian's LLVM 19 = Cilium's)
        _symlink('/usr/bin/clang-19', root / 'usr' / 'local' / 'bin' / 'clang')
        _symlink('/usr/bin/llc-19', root / 'usr' / 'local' / 'bin' / 'llc')
        module = cilium_module_dir(lay)
        shutil.rmtree(root / 'var' / 'lib' / 'cilium' / 'bpf', ignore_errors=True)
        shutil.copytree(module / 'bpf', root / 'var' / 'lib' / 'cilium' / 'bpf')
        for script in ('images/cilium/init-container.sh', 'plugins/cilium-cni/install-plugin.sh',
                       'plugins/cilium-cni/cni-uninstall.sh'):
            _install(module / script, root / Path(script).name)
        (root / 'home' / 'cilium').mkdir(parents=True, exist_ok=True)
        return {'Env': env + ['HUBBLE_SERVER=unix:///var/run/cilium/hubble.sock', 'INITSYSTEM=SYSTEMD'],
                'Cmd': ['/usr/bin/cilium-dbg'], 'WorkingDir': '/home/cilium'}
    if role == 'operator':
        _install(b / 'cilium-operator-generic', root / 'usr' / 'bin' / 'cilium-operator-generic')
        (root / 'home' / 'gops').mkdir(parents=True, exist_ok=True)
        (root / 'home' / 'gops').chmod(0o777)
        return {'Env': env + ['GOPS_CONFIG_DIR=/home/gops'], 'Entrypoint': ['/usr/bin/cilium-operator-generic'], 'WorkingDir': '/'}
    if role == 'relay':
        _install(b / 'hubble-relay', root / 'usr' / 'bin' / 'hubble-relay')
        # images/hubble-relay/Dockerfile: a world-writable gops directory and an unprivileged user
        (root / 'home' / 'gops').mkdir(parents=True, exist_ok=True)
        (root / 'home' / 'gops').chmod(0o777)
        return {'Env': env + ['GOPS_CONFIG_DIR=/home/gops'], 'Entrypoint': ['/usr/bin/hubble-relay'], 'Cmd': ['serve'],
                'WorkingDir': '/', 'User': '65532:65532'}
    if role == 'coredns':
        _install(b / 'coredns', root / 'coredns')
        return {'Env': env, 'Entrypoint': ['/coredns'], 'WorkingDir': '/'}
    if role == 'pause':
        _install(Path('/usr/bin/catatonit'), root / 'catatonit')
        return {'Env': env, 'Entrypoint': ['/catatonit', '-P'], 'WorkingDir': '/'}
    if role == 'nginx':
        return {'Env': env, 'Cmd': ['nginx', '-g', 'daemon off;'], 'WorkingDir': '/'}
    if role == 'netshoot':
        return {'Env': env, 'Cmd': ['sleep', 'infinity'], 'WorkingDir': '/'}
    raise ClusterError('unknown image role %s' % role)


IMAGE_ROOTFS = {'cilium': 'cilium', 'operator': 'base', 'relay': 'base', 'coredns': 'base', 'pause': None,
                'nginx': 'nginx', 'netshoot': 'netshoot'}


def _docker_archive(root: Path, name: str, config: dict, out: Path, log: Path) -> None:
    """Pack ``root`` as a single-layer docker-archive tar named ``name`` (what `ctr images import` reads)."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layer = Path(tmp) / 'layer.tar'
        run(['tar', '--numeric-owner', '--xattrs', '--sort=name', '--mtime=@0', '-C', root, '-cf', layer,
             '--exclude=./proc/*', '--exclude=./sys/*', '--exclude=./dev/*', '.'], log=log)
        digest = hashlib.sha256()
        with open(layer, 'rb') as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b''):
                digest.update(chunk)
        layer_id = digest.hexdigest()
        image_config = {
            'architecture': 'amd64', 'os': 'linux', 'created': '1970-01-01T00:00:00Z',
            'config': config,
            'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + layer_id]},
            'history': [{'created': '1970-01-01T00:00:00Z', 'created_by': 'netobs tests/cluster/cluster.py'}],
        }
        config_bytes = json.dumps(image_config, sort_keys=True).encode()
        config_id = hashlib.sha256(config_bytes).hexdigest()
        (Path(tmp) / layer_id).mkdir()
        layer.rename(Path(tmp) / layer_id / 'layer.tar')
        (Path(tmp) / (config_id + '.json')).write_bytes(config_bytes)
        (Path(tmp) / 'manifest.json').write_text(json.dumps(
            [{'Config': config_id + '.json', 'RepoTags': [name], 'Layers': [layer_id + '/layer.tar']}]))
        run(['tar', '-C', tmp, '-cf', str(out) + '.tmp', 'manifest.json', config_id + '.json', layer_id], log=log)
        os.replace(str(out) + '.tmp', out)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ''


def images(lay: Layout) -> dict[str, Path]:
    """Build every image tar (cached by the fingerprint of its inputs); return role -> tar path."""
    lay.images.mkdir(parents=True, exist_ok=True)
    names = image_names(lay)
    tars = {}
    for role, name in names.items():
        out = lay.images / ('%s.tar' % role)
        stamp = lay.images / ('.%s.stamp' % role)
        inputs = hashlib.sha256(json.dumps([name, ROOTFS_PACKAGES.get(IMAGE_ROOTFS[role] or '', []),
                                            [_read(lay.bin / ('.%s.stamp' % s)) for s in ('cilium', 'cilium-operator', 'coredns')]]).encode()).hexdigest()
        tars[role] = out
        if out.exists() and stamp.exists() and stamp.read_text() == inputs:
            continue
        log = lay.images / ('%s.log' % role)
        with Step('image %s' % name, log):
            with tempfile.TemporaryDirectory(dir=lay.images) as tmp:
                root = Path(tmp) / 'root'
                source = IMAGE_ROOTFS[role]
                if source:
                    run(['cp', '-a', rootfs(lay, source), root], log=log)
                else:
                    root.mkdir()
                config = _populate(lay, role, root)
                _docker_archive(root, name, config, out, log)
            stamp.write_text(inputs)
    return tars


# ---------------------------------------------------------------------------------------------------
# host preparation

def node_ip() -> str:
    """The address of the interface that holds the default route (the node's InternalIP)."""
    out = capture(['ip', '-4', '-o', 'route', 'get', '192.0.2.123'], check=False) or capture(['ip', '-4', '-o', 'route', 'show', 'default'])
    match = re.search(r'\bsrc\s+(\d+\.\d+\.\d+\.\d+)', out)
    if match:
        return match.group(1)
    dev = re.search(r'\bdev\s+(\S+)', out)
    if dev:
        addr = re.search(r'inet\s+(\d+\.\d+\.\d+\.\d+)', capture(['ip', '-4', '-o', 'addr', 'show', 'dev', dev.group(1)]))
        if addr:
            return addr.group(1)
    raise ClusterError('no IPv4 address with a route found for the node IP: %s' % out.strip())


def mounted(path: Path) -> str | None:
    """The filesystem type mounted exactly at ``path``, or None."""
    for line in Path('/proc/self/mountinfo').read_text().splitlines():
        left, _sep, right = line.partition(' - ')
        fields = left.split()
        if len(fields) > 4 and fields[4] == str(path):
            return right.split()[0]
    return None


def prepare_host(lay: Layout, log: Path) -> None:
    missing = [p for p in HOST_PACKAGES if subprocess.run(['dpkg', '-s', p], capture_output=True, check=False).returncode != 0]
    if missing:
        say('    installing Debian packages: %s' % ' '.join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        run(['apt-get', 'update', '-qq'], log=log, env=env)
        run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + missing, log=log, env=env)
    notes = lay.state / 'host-changes.json'
    changes = json.loads(notes.read_text()) if notes.exists() else {}
    # kubelet and Cilium need shared mount propagation (without systemd, / is private)
    run(['mount', '--make-rshared', '/'], log=log)
    if mounted(BPFFS) != 'bpf':
        run(['mount', '-t', 'bpf', 'bpffs', BPFFS], log=log)
        changes['mounted_bpffs'] = True
    run(['mount', '--make-shared', BPFFS], log=log)
    # CONFIG_MODULES is off: no /proc/modules, everything is built in. Tools that look for the module
    # list (iptables, ipset, Cilium's probes) find it here.
    release = os.uname().release
    builtin = Path('/lib/modules') / release / 'modules.builtin'
    if not builtin.exists():
        builtin.parent.mkdir(parents=True, exist_ok=True)
        builtin.write_text(''.join('kernel/net/netfilter/%s.ko\n' % m for m in (
            'nf_conntrack', 'nf_nat', 'x_tables', 'xt_conntrack', 'xt_mark', 'xt_comment', 'xt_socket', 'xt_TPROXY',
            'xt_CT', 'xt_multiport', 'xt_set', 'ip_set', 'nf_tables', 'nft_compat')) +
            'kernel/net/ipv4/netfilter/ip_tables.ko\nkernel/net/ipv4/netfilter/iptable_nat.ko\n'
            'kernel/net/ipv4/netfilter/iptable_mangle.ko\nkernel/net/ipv4/netfilter/iptable_raw.ko\n'
            'kernel/net/ipv4/netfilter/iptable_filter.ko\nkernel/net/sched/sch_ingress.ko\nkernel/net/sched/cls_bpf.ko\n'
            'kernel/drivers/net/vxlan/vxlan.ko\nkernel/drivers/net/veth.ko\n')
        changes['created_modules_builtin'] = str(builtin)
    for key, value in (('net/ipv4/ip_forward', '1'), ('net/ipv4/conf/all/rp_filter', '0')):
        Path('/proc/sys', key).write_text(value)
    # containerd's CRI sets up the pod's lo with the CNI loopback plugin
    CNI_BIN.mkdir(parents=True, exist_ok=True)
    CNI_CONF.mkdir(parents=True, exist_ok=True)
    if not (CNI_BIN / 'loopback').exists():
        shutil.copyfile('/usr/lib/cni/loopback', CNI_BIN / 'loopback')
        (CNI_BIN / 'loopback').chmod(0o755)
        changes.setdefault('created_files', []).append(str(CNI_BIN / 'loopback'))
    notes.write_text(json.dumps(changes))


# ---------------------------------------------------------------------------------------------------
# PKI and kubeconfigs (openssl, argv lists)

def _openssl(args: list, log: Path) -> None:
    run(['openssl'] + args, log=log)


def make_pki(lay: Layout, ip: str, log: Path) -> None:
    pki = lay.pki
    if (pki / 'done').exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki / 'ca.key', '-out', pki / 'ca.crt',
              '-days', '30', '-subj', '/CN=netobs-cluster-ca'], log)
    _openssl(['genrsa', '-out', pki / 'sa.key', '2048'], log)
    _openssl(['rsa', '-in', pki / 'sa.key', '-pubout', '-out', pki / 'sa.pub'], log)
    api_sans = ['IP:%s' % KUBERNETES_SERVICE_IP, 'IP:%s' % ip, 'IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes',
                'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.%s' % CLUSTER_DOMAIN]
    certs = {
        'apiserver': ('kube-apiserver', None, 'serverAuth', api_sans),
        'apiserver-kubelet-client': ('kube-apiserver-kubelet-client', 'system:masters', 'clientAuth', None),
        'admin': ('netobs-admin', 'system:masters', 'clientAuth', None),
        'controller-manager': ('system:kube-controller-manager', None, 'clientAuth', None),
        'scheduler': ('system:kube-scheduler', None, 'clientAuth', None),
        'kube-proxy': ('system:kube-proxy', 'system:node-proxier', 'clientAuth', None),
        'kubelet': ('system:node:%s' % NODE_NAME, 'system:nodes', 'clientAuth', None),
        'kubelet-serving': (NODE_NAME, None, 'serverAuth', ['IP:%s' % ip, 'DNS:%s' % NODE_NAME, 'IP:127.0.0.1']),
    }
    for name, (cn, org, usage, sans) in certs.items():
        subject = '/CN=%s' % cn + ('/O=%s' % org if org else '')
        _openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki / ('%s.key' % name),
                  '-out', pki / ('%s.csr' % name), '-subj', subject], log)
        ext = pki / ('%s.ext' % name)
        ext.write_text('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
                       'extendedKeyUsage=%s\n%s' % (usage, 'subjectAltName=%s\n' % ','.join(sans) if sans else ''))
        _openssl(['x509', '-req', '-in', pki / ('%s.csr' % name), '-CA', pki / 'ca.crt', '-CAkey', pki / 'ca.key',
                  '-CAcreateserial', '-days', '30', '-out', pki / ('%s.crt' % name), '-extfile', ext], log)
    for path in pki.iterdir():
        if path.suffix == '.key':
            path.chmod(0o600)
    (pki / 'done').write_text('')


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(lay: Layout, path: Path, user: str, server: str) -> None:
    pki = lay.pki
    config = {
        'apiVersion': 'v1', 'kind': 'Config',
        'clusters': [{'name': 'netobs-local', 'cluster': {'server': server, 'certificate-authority-data': _b64(pki / 'ca.crt')}}],
        'users': [{'name': user, 'user': {'client-certificate-data': _b64(pki / ('%s.crt' % user)),
                                          'client-key-data': _b64(pki / ('%s.key' % user))}}],
        'contexts': [{'name': 'netobs-local', 'context': {'cluster': 'netobs-local', 'user': user}}],
        'current-context': 'netobs-local',
    }
    path.write_text(json.dumps(config, indent=2))   # JSON is YAML
    path.chmod(0o600)


# ---------------------------------------------------------------------------------------------------
# processes

def _pidfile(lay: Layout, name: str) -> Path:
    return lay.pids / ('%s.pid' % name)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path('/proc/%d/stat' % pid).read_text().split(') ')[1][0] != 'Z'
    except OSError:
        return False


def running(lay: Layout, name: str) -> int | None:
    path = _pidfile(lay, name)
    if not path.exists():
        return None
    pid = int(path.read_text().split()[0])
    return pid if alive(pid) else None


def start(lay: Layout, name: str, argv: list, env: dict | None = None) -> int:
    pid = running(lay, name)
    if pid:
        say('    %s: already running (pid %s)' % (name, pid))
        return pid
    lay.logs.mkdir(parents=True, exist_ok=True)
    lay.pids.mkdir(parents=True, exist_ok=True)
    log = lay.logs / ('%s.log' % name)
    out = open(log, 'ab')
    out.write(('\n$ %s\n' % ' '.join(map(str, argv))).encode())
    out.flush()
    proc = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    out.close()
    _pidfile(lay, name).write_text('%d %s\n' % (proc.pid, name))
    say('    %s: started (pid %d, log %s)' % (name, proc.pid, log))
    return proc.pid


def wait_for(what: str, check, timeout: float, lay: Layout, name: str | None = None, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    error = None
    while time.monotonic() < deadline:
        if name and not running(lay, name):
            raise ClusterError('%s exited; last lines of %s:\n%s' % (name, lay.logs / ('%s.log' % name), tail(lay.logs / ('%s.log' % name))))
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any probe error means "not yet"
            error = exc
        if time.monotonic() - last > 30:
            say('    ... waiting for %s' % what)
            last = time.monotonic()
        time.sleep(interval)
    log = ' (log: %s)' % (lay.logs / ('%s.log' % name)) if name else ''
    raise ClusterError('%s not ready after %ss%s; last probe error: %s' % (what, timeout, log, error))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])
    except OSError:
        return '(no log)'


def https_ok(lay: Layout, url: str) -> bool:
    ctx = ssl.create_default_context(cafile=str(lay.pki / 'ca.crt'))
    ctx.load_cert_chain(str(lay.pki / 'admin.crt'), str(lay.pki / 'admin.key'))
    with urllib.request.urlopen(url, context=ctx, timeout=5) as response:
        return response.status == 200


def port_open(port: int, host: str = '127.0.0.1') -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def kubectl(lay: Layout, *args: str, check: bool = True) -> str:
    return capture([lay.bin / 'kubectl', '--kubeconfig', lay.kubeconfig] + list(args), check=check)


def containerd_config(lay: Layout) -> Path:
    path = lay.state / 'containerd.toml'
    path.write_text('''version = 2
root = "%(root)s"
state = "%(run)s/containerd/state"
[grpc]
  address = "%(sock)s"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%(pause)s"
  enable_unprivileged_ports = false
  # Our processes lack CAP_SYS_RESOURCE (not in the bounding set here): a negative oom_score_adj (the
  # kubelet asks -998 for every sandbox) fails in runc with "can't get final child's PID from pipe".
  # Clamp to containerd's own score instead.
  restrict_oom_score_adj = %(restrict)s
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%(cnibin)s"
    conf_dir = "%(cniconf)s"
''' % {'root': lay.containerd_root, 'run': RUN_DIR, 'sock': CONTAINERD_SOCK, 'pause': image_names(lay)['pause'],
       'cnibin': CNI_BIN, 'cniconf': CNI_CONF, 'restrict': 'false' if has_capability(CAP_SYS_RESOURCE) else 'true'})
    return path


def has_capability(number: int) -> bool:
    """Whether this process holds a capability in its effective set (24 = CAP_SYS_RESOURCE)."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('CapEff:'):
            return bool(int(line.split()[1], 16) >> number & 1)
    return False


def ctr(*args: str) -> list[str]:
    return ['ctr', '--address', str(CONTAINERD_SOCK), '--namespace', 'k8s.io'] + list(args)


def import_images(lay: Layout, tars: dict[str, Path], log: Path) -> None:
    have = capture(ctr('images', 'ls', '-q'))
    for role, tar in tars.items():
        name = image_names(lay)[role]
        stamp = lay.images / ('.%s.stamp' % role)
        marker = lay.containerd_root / ('.imported-%s' % role)
        if name in have.split() and marker.exists() and marker.read_text() == stamp.read_text():
            continue
        with Step('import %s' % name, log):
            run(ctr('images', 'import', '--no-unpack=false', tar), log=log, timeout=600)
            marker.write_text(stamp.read_text())


def kubelet_config(lay: Layout, ip: str) -> Path:
    path = lay.state / 'kubelet.yaml'
    resolv = lay.state / 'resolv.conf'
    # pods with dnsPolicy Default (CoreDNS) resolve nothing outside the cluster: no traffic leaves the machine
    resolv.write_text('nameserver 127.0.0.53\noptions ndots:1\n')
    path.write_text(json.dumps({
        'apiVersion': 'kubelet.config.k8s.io/v1beta1', 'kind': 'KubeletConfiguration',
        'authentication': {'anonymous': {'enabled': False}, 'webhook': {'enabled': True},
                           'x509': {'clientCAFile': str(lay.pki / 'ca.crt')}},
        'authorization': {'mode': 'Webhook'},
        'cgroupDriver': 'cgroupfs',
        'failCgroupV1': False,
        'containerRuntimeEndpoint': 'unix://%s' % CONTAINERD_SOCK,
        'clusterDNS': [DNS_SERVICE_IP], 'clusterDomain': CLUSTER_DOMAIN,
        'resolvConf': str(resolv),
        'failSwapOn': False,
        'tlsCertFile': str(lay.pki / 'kubelet-serving.crt'), 'tlsPrivateKeyFile': str(lay.pki / 'kubelet-serving.key'),
        'address': ip,
        'healthzBindAddress': '127.0.0.1', 'healthzPort': 10248,
        'serializeImagePulls': False,
        'evictionHard': {'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%'},
        'imageGCHighThresholdPercent': 100, 'imageGCLowThresholdPercent': 99,
        'maxPods': 60,
    }, indent=2))
    return path


def kube_proxy_config(lay: Layout) -> Path:
    path = lay.state / 'kube-proxy.yaml'
    path.write_text(json.dumps({
        'apiVersion': 'kubeproxy.config.k8s.io/v1alpha1', 'kind': 'KubeProxyConfiguration',
        'clientConnection': {'kubeconfig': str(lay.state / 'kube-proxy.kubeconfig')},
        'mode': 'iptables', 'clusterCIDR': CLUSTER_CIDR, 'hostnameOverride': NODE_NAME,
        'conntrack': {'maxPerCore': 0},
        'metricsBindAddress': '127.0.0.1:10249', 'healthzBindAddress': '127.0.0.1:10256',
    }, indent=2))
    return path


def start_control_plane(lay: Layout, ip: str) -> None:
    b, pki, st = lay.bin, lay.pki, lay.state
    server = 'https://%s:%d' % (ip, API_PORT)
    for user in ('admin', 'controller-manager', 'scheduler', 'kube-proxy', 'kubelet'):
        write_kubeconfig(lay, st / ('%s.kubeconfig' % user), user, server)
    shutil.copyfile(st / 'admin.kubeconfig', lay.kubeconfig)
    lay.kubeconfig.chmod(0o600)

    with Step('etcd'):
        start(lay, 'etcd', [b / 'etcd', '--name', NODE_NAME, '--data-dir', st / 'etcd',
                            '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
                            '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
                            '--initial-cluster', '%s=http://127.0.0.1:2380' % NODE_NAME, '--listen-metrics-urls', 'http://127.0.0.1:2381',
                            '--log-level', 'warn'])
        wait_for('etcd', lambda: urllib.request.urlopen('http://127.0.0.1:2381/health', timeout=3).status == 200, 60, lay, 'etcd')
    with Step('kube-apiserver'):
        start(lay, 'kube-apiserver', [
            b / 'kube-apiserver', '--etcd-servers', 'http://127.0.0.1:2379',
            '--bind-address', '0.0.0.0', '--secure-port', API_PORT, '--advertise-address', ip,
            '--tls-cert-file', pki / 'apiserver.crt', '--tls-private-key-file', pki / 'apiserver.key',
            '--client-ca-file', pki / 'ca.crt',
            '--service-account-key-file', pki / 'sa.pub', '--service-account-signing-key-file', pki / 'sa.key',
            '--service-account-issuer', 'https://kubernetes.default.svc.%s' % CLUSTER_DOMAIN,
            '--service-cluster-ip-range', SERVICE_CIDR, '--authorization-mode', 'Node,RBAC',
            '--enable-admission-plugins', 'NodeRestriction', '--allow-privileged=true',
            '--kubelet-client-certificate', pki / 'apiserver-kubelet-client.crt',
            '--kubelet-client-key', pki / 'apiserver-kubelet-client.key',
            '--kubelet-certificate-authority', pki / 'ca.crt',
            '--kubelet-preferred-address-types', 'InternalIP', '--event-ttl', '2h', '--v', '1'])
        wait_for('kube-apiserver /readyz', lambda: https_ok(lay, server + '/readyz'), 120, lay, 'kube-apiserver')
    with Step('kube-controller-manager and kube-scheduler'):
        start(lay, 'kube-controller-manager', [
            b / 'kube-controller-manager', '--kubeconfig', st / 'controller-manager.kubeconfig',
            '--authentication-kubeconfig', st / 'controller-manager.kubeconfig',
            '--authorization-kubeconfig', st / 'controller-manager.kubeconfig',
            '--service-account-private-key-file', pki / 'sa.key', '--root-ca-file', pki / 'ca.crt',
            '--cluster-signing-cert-file', pki / 'ca.crt', '--cluster-signing-key-file', pki / 'ca.key',
            '--use-service-account-credentials=true', '--leader-elect=false',
            '--allocate-node-cidrs=true', '--cluster-cidr', CLUSTER_CIDR, '--node-cidr-mask-size', '24',
            '--service-cluster-ip-range', SERVICE_CIDR, '--bind-address', '127.0.0.1', '--v', '1'])
        start(lay, 'kube-scheduler', [b / 'kube-scheduler', '--kubeconfig', st / 'scheduler.kubeconfig',
                                      '--authentication-kubeconfig', st / 'scheduler.kubeconfig',
                                      '--authorization-kubeconfig', st / 'scheduler.kubeconfig',
                                      '--leader-elect=false', '--bind-address', '127.0.0.1', '--v', '1'])
        wait_for('kube-controller-manager healthz', lambda: port_open(10257), 60, lay, 'kube-controller-manager')
        wait_for('kube-scheduler healthz', lambda: port_open(10259), 60, lay, 'kube-scheduler')


def start_node(lay: Layout, ip: str, tars: dict[str, Path]) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    (RUN_DIR / 'containerd').mkdir(parents=True, exist_ok=True)
    lay.containerd_root.mkdir(parents=True, exist_ok=True)
    with Step('containerd'):
        start(lay, 'containerd', ['containerd', '--config', containerd_config(lay)])
        wait_for('containerd socket', lambda: subprocess.run(ctr('version'), capture_output=True, check=False).returncode == 0, 60, lay, 'containerd')
    import_images(lay, tars, lay.logs / 'images-import.log')
    with Step('kubelet and kube-proxy'):
        start(lay, 'kubelet', [lay.bin / 'kubelet', '--config', kubelet_config(lay, ip),
                               '--kubeconfig', lay.state / 'kubelet.kubeconfig', '--hostname-override', NODE_NAME,
                               '--node-ip', ip, '--root-dir', KUBELET_ROOT, '--v', '1'])
        start(lay, 'kube-proxy', [lay.bin / 'kube-proxy', '--config', kube_proxy_config(lay)])
        wait_for('node %s registered' % NODE_NAME,
                 lambda: NODE_NAME in kubectl(lay, 'get', 'nodes', '-o', 'name', check=False), 120, lay, 'kubelet')
        wait_for('podCIDR of %s' % NODE_NAME,
                 lambda: kubectl(lay, 'get', 'node', NODE_NAME, '-o', 'jsonpath={.spec.podCIDR}').strip(), 60, lay)


# ---------------------------------------------------------------------------------------------------
# Cilium (Helm, the chart from the module cache, the install role's values) and CoreDNS

def _install_values_module():
    """plugins/module_utils/install/values.py of this checkout, imported under its collection name."""
    sys.path.insert(0, str(ROOT / 'scripts'))
    try:
        import checkout_import
    finally:
        sys.path.remove(str(ROOT / 'scripts'))
    return checkout_import.import_module_utils('install.values', CACHE / 'python-path')


def local_overrides(ip: str) -> dict:
    """tests/cluster/cilium-values-local.json plus the API server address (the node IP)."""
    values = json.loads((HERE / 'cilium-values-local.json').read_text())
    values.pop('_comment', None)
    values['k8sServiceHost'] = ip
    values['k8sServicePort'] = str(API_PORT)
    if not has_capability(CAP_SYS_RESOURCE):
        # runc cannot grant a capability outside our bounding set ("unable to apply caps"): the agent and
        # clean-cilium-state ask for SYS_RESOURCE (RLIMIT_MEMLOCK; kernels >= 5.11 account BPF memory by memcg).
        chart = _chart_defaults(versions()['cilium'])
        caps = chart['securityContext']['capabilities']
        values['securityContext'] = {'capabilities': {
            name: [c for c in caps[name] if c != 'SYS_RESOURCE'] for name in ('ciliumAgent', 'cleanCiliumState')}}
    return values


def _chart_defaults(version: str) -> dict:
    """The chart's values.yaml defaults we need, read from the test fixtures (JSON-free YAML subset)."""
    path = ROOT / 'tests' / 'fixtures' / 'cilium-chart' / version.lstrip('v') / 'values.yaml'
    caps: dict[str, list[str]] = {}
    current = None
    in_caps = False
    for line in path.read_text().splitlines():
        if line.startswith('securityContext:'):
            in_caps = False
            current = 'securityContext'
            continue
        if current == 'securityContext':
            if line and not line.startswith(' '):
                break
            if line.startswith('  capabilities:'):
                in_caps = True
                continue
            if in_caps:
                match = re.match(r'^    (\w+):\s*$', line)
                if match:
                    caps[match.group(1)] = []
                    continue
                item = re.match(r'^      - (\w+)\s*$', line)
                if item and caps:
                    caps[list(caps)[-1]].append(item.group(1))
                elif line.startswith('  ') and not line.startswith('    ') and not line.strip().startswith('#'):
                    in_caps = False
    if not caps.get('ciliumAgent'):
        raise ClusterError('could not read securityContext.capabilities from %s' % path)
    return {'securityContext': {'capabilities': caps}}


def cilium_values(lay: Layout, ip: str) -> dict:
    """Exactly what netobs.cilium.install renders for install_profile=kind + install_extra_values=overrides."""
    iv = _install_values_module()
    return iv.build_values(lay.versions['cilium'].lstrip('v'), profile='kind', extra_values=local_overrides(ip))


def install_cilium(lay: Layout, ip: str) -> None:
    values = cilium_values(lay, ip)
    values_file = lay.state / 'cilium-values.json'
    values_file.write_text(json.dumps(values, indent=2))
    (lay.state / 'cilium-extra-values.json').write_text(json.dumps(local_overrides(ip), indent=2))
    log = lay.logs / 'helm.log'
    with Step('helm install cilium %s (chart %s)' % (lay.versions['cilium'], chart_dir(lay)), log):
        status = subprocess.run([str(lay.bin / 'helm'), '--kubeconfig', str(lay.kubeconfig), 'status', 'cilium', '-n', 'kube-system'],
                                capture_output=True, check=False)
        if status.returncode == 0:
            say('    release cilium exists; leaving it as it is (the install role manages upgrades)')
        else:
            run([lay.bin / 'helm', '--kubeconfig', lay.kubeconfig, 'upgrade', '--install', 'cilium', chart_dir(lay),
                 '--namespace', 'kube-system', '--values', values_file, '--timeout', '10m'], log=log)


COREFILE = """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes %s in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
"""


def coredns_manifest(image: str) -> dict:
    """CoreDNS for cluster.local only: nothing is forwarded, so no query leaves the machine."""
    meta = {'name': 'coredns', 'namespace': 'kube-system'}
    labels = {'k8s-app': 'kube-dns'}
    container = {
        'name': 'coredns', 'image': image, 'imagePullPolicy': 'Never', 'args': ['-conf', '/etc/coredns/Corefile'],
        'ports': [{'containerPort': 53, 'name': 'dns', 'protocol': 'UDP'}, {'containerPort': 53, 'name': 'dns-tcp', 'protocol': 'TCP'}],
        'securityContext': {'capabilities': {'add': ['NET_BIND_SERVICE']}},
        'readinessProbe': {'httpGet': {'path': '/ready', 'port': 8181}, 'periodSeconds': 2},
        'livenessProbe': {'httpGet': {'path': '/health', 'port': 8080}, 'periodSeconds': 10, 'failureThreshold': 5},
        'volumeMounts': [{'name': 'config', 'mountPath': '/etc/coredns', 'readOnly': True}],
    }
    pod = {'serviceAccountName': 'coredns', 'priorityClassName': 'system-cluster-critical', 'dnsPolicy': 'Default',
           'containers': [container], 'volumes': [{'name': 'config', 'configMap': {'name': 'coredns'}}]}
    rules = [{'apiGroups': [''], 'resources': ['endpoints', 'services', 'pods', 'namespaces'], 'verbs': ['list', 'watch']},
             {'apiGroups': ['discovery.k8s.io'], 'resources': ['endpointslices'], 'verbs': ['list', 'watch']}]
    return {'apiVersion': 'v1', 'kind': 'List', 'items': [
        {'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': meta},
        {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole', 'metadata': {'name': 'system:coredns'}, 'rules': rules},
        {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRoleBinding', 'metadata': {'name': 'system:coredns'},
         'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole', 'name': 'system:coredns'},
         'subjects': [{'kind': 'ServiceAccount', 'name': 'coredns', 'namespace': 'kube-system'}]},
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': meta, 'data': {'Corefile': COREFILE % CLUSTER_DOMAIN}},
        {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': dict(meta, labels=labels),
         'spec': {'replicas': 1, 'selector': {'matchLabels': labels},
                  'template': {'metadata': {'labels': labels}, 'spec': pod}}},
        {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'kube-dns', 'namespace': 'kube-system', 'labels': labels},
         'spec': {'clusterIP': DNS_SERVICE_IP, 'selector': labels,
                  'ports': [{'name': 'dns', 'port': 53, 'protocol': 'UDP'}, {'name': 'dns-tcp', 'port': 53, 'protocol': 'TCP'}]}},
    ]}


def install_coredns(lay: Layout) -> None:
    manifest = lay.state / 'coredns.json'
    manifest.write_text(json.dumps(coredns_manifest(image_names(lay)['coredns']), indent=1))
    with Step('CoreDNS %s' % lay.versions['coredns']):
        kubectl(lay, 'apply', '-f', str(manifest))


def wait_workloads(lay: Layout, timeout: int) -> None:
    with Step('wait: node Ready, cilium, cilium-operator, hubble-relay, coredns'):
        for kind, name in (('daemonset', 'cilium'), ('deployment', 'cilium-operator'), ('deployment', 'coredns'),
                           ('deployment', 'hubble-relay')):
            wait_for('%s/%s rolled out' % (kind, name),
                     lambda: subprocess.run([str(lay.bin / 'kubectl'), '--kubeconfig', str(lay.kubeconfig), '-n', 'kube-system',
                                             'rollout', 'status', '%s/%s' % (kind, name), '--timeout=20s'],
                                            capture_output=True, check=False).returncode == 0, timeout, lay, interval=2)
            say('    %s/%s ready' % (kind, name))
        wait_for('node %s Ready' % NODE_NAME, lambda: kubectl(
            lay, 'get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == 'True', timeout, lay)


# ---------------------------------------------------------------------------------------------------
# commands

def cmd_build(lay: Layout, only: set[str] | None = None) -> None:
    build(lay, only)


def cmd_images(lay: Layout) -> dict[str, Path]:
    build(lay)
    tars = images(lay)
    lay.ready_marker().write_text(json.dumps(lay.versions, indent=2) + '\n')
    return tars


def cluster_is_up(lay: Layout) -> bool:
    names = ('etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'containerd', 'kubelet', 'kube-proxy')
    return all(running(lay, n) for n in names) and lay.kubeconfig.exists()


def cmd_up(lay: Layout, timeout: int) -> None:
    require_root()
    tars = cmd_images(lay)
    lay.state.mkdir(parents=True, exist_ok=True)
    (lay.state / 'key').write_text(lay.key)
    ip = node_ip()
    host_log = lay.logs / 'host.log'
    with Step('host preparation (packages, rshared /, bpffs, modules.builtin, ip_forward, CNI loopback)', host_log):
        prepare_host(lay, host_log)
    with Step('certificates and kubeconfigs', lay.logs / 'pki.log'):
        make_pki(lay, ip, lay.logs / 'pki.log')
    start_control_plane(lay, ip)
    start_node(lay, ip, tars)
    install_coredns(lay)
    install_cilium(lay, ip)
    wait_workloads(lay, timeout)
    print_usage(lay)


def print_usage(lay: Layout) -> None:
    print('''
Cluster %(key)s is up (node %(node)s, API https://%(ip)s:%(port)d).
  export KUBECONFIG=%(kc)s
  export PATH=%(bin)s:$PATH        # kubectl, helm, hubble, cilium-dbg of the pinned versions
  kubectl get pods -A
  kubectl -n kube-system exec ds/cilium -c cilium-agent -- hubble observe --verdict DROPPED
Ansible: K8S_AUTH_KUBECONFIG=%(kc)s (or module_defaults kubeconfig: %(kc)s)
Stop everything: make cluster-down''' % {'key': lay.key, 'node': NODE_NAME, 'ip': node_ip(), 'port': API_PORT,
                                         'kc': lay.kubeconfig, 'bin': lay.bin})


def our_processes(lay: Layout) -> list[tuple[int, str]]:
    """Every process we started (pid files) plus the containerd shims and container processes below them."""
    found = []
    for path in sorted(lay.pids.glob('*.pid')) if lay.pids.exists() else []:
        pid = int(path.read_text().split()[0])
        if alive(pid):
            found.append((pid, path.stem))
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / 'cmdline').read_bytes().split(b'\0')
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b'containerd-shim-runc-v2') and str(CONTAINERD_SOCK).encode() in cmdline:
            found.append((int(proc.name), 'containerd-shim'))
    return found


def _kill(pid: int, name: str, grace: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        say('    %s (pid %d) ignored SIGTERM; SIGKILL' % (name, pid))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def our_mounts(lay: Layout) -> list[str]:
    prefixes = [str(KUBELET_ROOT), str(lay.containerd_root), str(RUN_DIR), '/run/netns/cni-', '/var/run/netns/cni-',
                '/run/cilium', '/var/run/cilium', '/run/containerd/io.containerd', str(lay.state)]
    notes = lay.state / 'host-changes.json'
    if notes.exists() and json.loads(notes.read_text()).get('mounted_bpffs'):
        prefixes.append(str(BPFFS))
    points = []
    for line in Path('/proc/self/mountinfo').read_text().splitlines():
        point = line.split()[4].replace('\\040', ' ')
        if any(point == p.rstrip('/') or point.startswith(p if p.endswith('-') else p.rstrip('/') + '/') or
               (p.endswith('-') and point.startswith(p)) for p in prefixes):
            points.append(point)
    return points


def _unmount_all(lay: Layout) -> None:
    for _attempt in range(3):
        points = sorted(set(our_mounts(lay)), key=lambda p: p.count('/'), reverse=True)
        if not points:
            return
        for point in points:
            if subprocess.run(['umount', point], capture_output=True, check=False).returncode != 0:
                subprocess.run(['umount', '-l', point], capture_output=True, check=False)


def _clean_iptables() -> None:
    """Drop the KUBE-* and CILIUM_* chains and the rules that jump to them (kube-proxy and Cilium own them)."""
    for tool in ('iptables', 'ip6tables'):
        dump = subprocess.run(['%s-save' % tool], capture_output=True, text=True, check=False)
        if dump.returncode != 0 or not re.search(r'KUBE-|CILIUM', dump.stdout):
            continue
        kept = [line for line in dump.stdout.splitlines() if not re.search(r'KUBE-|CILIUM', line)]
        subprocess.run(['%s-restore' % tool], input='\n'.join(kept) + '\n', text=True, capture_output=True, check=False)


def cmd_down(lay: Layout) -> None:
    require_root()
    with Step('stop kubelet'):
        pid = running(lay, 'kubelet')
        if pid:
            _kill(pid, 'kubelet')
    with Step('stop pods (containerd tasks)'):
        if running(lay, 'containerd'):
            tasks = subprocess.run(ctr('tasks', 'ls', '-q'), capture_output=True, text=True, check=False).stdout.split()
            for task in tasks:
                subprocess.run(ctr('tasks', 'kill', '-s', 'SIGKILL', task), capture_output=True, check=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and subprocess.run(ctr('tasks', 'ls', '-q'), capture_output=True, text=True, check=False).stdout.strip():
                time.sleep(0.5)
    with Step('stop kube-proxy, control plane, containerd'):
        for name in ('kube-proxy', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd', 'containerd'):
            pid = running(lay, name)
            if pid:
                _kill(pid, name)
        for pid, name in our_processes(lay):
            _kill(pid, name, grace=3)
    with Step('unmount, network namespaces, interfaces, iptables chains, files'):
        _unmount_all(lay)
        for netns_dir in (Path('/run/netns'), Path('/var/run/netns')):
            if netns_dir.exists():
                for ns in netns_dir.glob('cni-*'):
                    ns.unlink(missing_ok=True)
        links = capture(['ip', '-o', 'link', 'show'])
        for name in re.findall(r'^\d+:\s+([^:@\s]+)', links, re.M):
            if name in ('cilium_host', 'cilium_net', 'cilium_vxlan', 'cilium_geneve', 'lxc_health') or name.startswith('lxc'):
                subprocess.run(['ip', 'link', 'del', name], capture_output=True, check=False)
        _clean_iptables()
        notes = lay.state / 'host-changes.json'
        changes = json.loads(notes.read_text()) if notes.exists() else {}
        for path in changes.get('created_files', []) + [str(CNI_BIN / 'cilium-cni'), str(CNI_CONF / '05-cilium.conflist')]:
            Path(path).unlink(missing_ok=True)
        if changes.get('created_modules_builtin'):
            Path(changes['created_modules_builtin']).unlink(missing_ok=True)
        for path in (KUBELET_ROOT, RUN_DIR, Path('/var/run/cilium'), Path('/run/cilium')):
            shutil.rmtree(path, ignore_errors=True)
        if lay.state.exists():
            archive = CACHE / 'last-run-logs'
            shutil.rmtree(archive, ignore_errors=True)
            if lay.logs.exists():
                shutil.copytree(lay.logs, archive)
            shutil.rmtree(lay.state, ignore_errors=True)
    left = our_processes(lay) + [(0, m) for m in our_mounts(lay)]
    if left:
        raise ClusterError('still there after cleanup: %s' % left)
    say('cluster stopped; no process, mount or network namespace of ours is left (logs kept in %s)' % (CACHE / 'last-run-logs'))


def cmd_status(lay: Layout) -> int:
    print('versions: %s' % ', '.join('%s %s' % kv for kv in lay.versions.items()))
    print('cache:    %s (%s)' % (lay.base, 'binaries and images built' if lay.ready_marker().exists() else 'not built'))
    for name in ('etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'containerd', 'kubelet', 'kube-proxy'):
        pid = running(lay, name)
        print('  %-24s %s' % (name, 'running (pid %s)' % pid if pid else 'stopped'))
    if cluster_is_up(lay):
        print('kubeconfig: %s' % lay.kubeconfig)
        return 0
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('command', choices=('up', 'down', 'status', 'build', 'images', 'env', 'ready'))
    parser.add_argument('--timeout', type=int, default=900, help='seconds to wait for the workloads (default 900)')
    parser.add_argument('--only', default='', help='build: just these binaries, comma-separated (e.g. etcd,kube-apiserver)')
    args = parser.parse_args(argv)
    lay = Layout()
    try:
        if args.command == 'up':
            if cluster_is_up(lay):
                say('cluster processes already run; checking the workloads')
                wait_workloads(lay, args.timeout)
                print_usage(lay)
            else:
                cmd_up(lay, args.timeout)
        elif args.command == 'down':
            cmd_down(lay)
        elif args.command == 'status':
            return cmd_status(lay)
        elif args.command == 'build':
            cmd_build(lay, {name for name in args.only.split(',') if name} or None)
        elif args.command == 'images':
            cmd_images(lay)
        elif args.command == 'env':
            print('export KUBECONFIG=%s\nexport PATH=%s:$PATH' % (lay.kubeconfig, lay.bin))
        elif args.command == 'ready':
            # exit 0 when binaries and images for the pinned versions are cached (CI decides on e2e-local)
            return 0 if lay.ready_marker().exists() else 1
    except ClusterError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted; make cluster-down stops what was started', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
