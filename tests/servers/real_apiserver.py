# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real etcd + kube-apiserver (the pinned upstream release, built by tests/cluster/cluster.py) for the test session.

Both processes listen on 127.0.0.1 only, on free ephemeral ports, with their own data directory and PKI in a temporary
directory; they are started and stopped by process id (never by name). Nothing else of a cluster runs: no
controller-manager, scheduler or kubelet, so objects are only what the tests write (Pods exist as objects, their status is
whatever a test writes through the ``status`` subresource).

    with RealAPIServer() as api:                    # ~3-6 s: etcd, apiserver, /readyz, the Cilium CRDs
        api.url                                     # https://127.0.0.1:PORT
        api.write_kubeconfig(path, user='admin')    # CA + bearer token; users: admin (system:masters), test, other
        api.apply(objs)                             # create or replace (as admin), status written through /status
        api.grant('test', rules, namespace=None)    # Role(Binding) or ClusterRole(Binding) for a restricted user
        api.reset()                                 # delete what the tests created (namespaces, labelled objects)

See tests/servers/README.md.
"""

from __future__ import annotations

import atexit
import base64
import concurrent.futures
import ctypes
import datetime
import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from servers.pki import make_ca

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_PY = os.path.join(REPO, 'tests', 'cluster', 'cluster.py')
BINARIES = ('etcd', 'kube-apiserver')
BUILD_HINT = 'python3 tests/cluster/cluster.py build --only etcd,kube-apiserver'
# Every object a test writes carries this label, so reset() finds what to delete in namespaces the server owns.
TEST_LABEL = 'netobs.test/owned'
USERS = {  # name -> (token, groups)
    'admin': ('admin-token', 'system:masters'),
    'test': ('test-token', ''),
    'other': ('other-token', ''),
}
SYSTEM_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')
# kind -> (plural, namespaced) for apply/get/list/delete
PLURALS = {
    'Namespace': ('namespaces', False), 'Pod': ('pods', True), 'Event': ('events', True), 'ConfigMap': ('configmaps', True),
    'Secret': ('secrets', True), 'Service': ('services', True), 'ServiceAccount': ('serviceaccounts', True),
    'Node': ('nodes', False), 'Deployment': ('deployments', True), 'DaemonSet': ('daemonsets', True),
    'ReplicaSet': ('replicasets', True), 'NetworkPolicy': ('networkpolicies', True),
    'Role': ('roles', True), 'RoleBinding': ('rolebindings', True), 'ClusterRole': ('clusterroles', False),
    'ClusterRoleBinding': ('clusterrolebindings', False), 'CustomResourceDefinition': ('customresourcedefinitions', False),
    'CiliumNetworkPolicy': ('ciliumnetworkpolicies', True), 'CiliumClusterwideNetworkPolicy': ('ciliumclusterwidenetworkpolicies', False),
}
STATUS_KINDS = ('Pod', 'Node', 'Deployment', 'DaemonSet', 'ReplicaSet')


class RealAPIServerUnavailable(Exception):
    """The binaries are missing and cannot be built here; the message says what to run."""


class RealAPIError(Exception):
    """An admin request of the harness failed."""

    def __init__(self, status, body, method, path):
        super().__init__('%s %s -> HTTP %s: %s' % (method, path, status, (body or {}).get('message', body)))
        self.status = status
        self.body = body


# --------------------------------------------------------------------------------------------------- binaries


def _cluster_module():
    spec = importlib.util.spec_from_file_location('netobs_cluster_build', CLUSTER_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_binaries(build=True):
    """{name: path} of etcd and kube-apiserver from the make-cluster cache; builds just those two when ``go`` exists.

    Raises RealAPIServerUnavailable (with the command to run) otherwise.
    """
    override = os.environ.get('NETOBS_REAL_APISERVER_BIN')
    cluster = _cluster_module()
    lay = cluster.Layout()
    directory = override or str(lay.bin)
    paths = {name: os.path.join(directory, name) for name in BINARIES}
    if all(os.access(p, os.X_OK) for p in paths.values()):
        return paths
    if override:
        raise RealAPIServerUnavailable('NETOBS_REAL_APISERVER_BIN=%s holds no executable %s' % (override, ' and '.join(BINARIES)))
    if not build or shutil.which('go') is None:
        raise RealAPIServerUnavailable('no etcd/kube-apiserver %s in %s and no Go toolchain to build them: run `%s` on a machine with Go '
                                       '(or set NETOBS_REAL_APISERVER_BIN)' % (lay.versions['kubernetes'], directory, BUILD_HINT))
    try:
        cluster.build(lay, only=set(BINARIES))
    except cluster.ClusterError as exc:
        raise RealAPIServerUnavailable('building etcd/kube-apiserver failed (%s); run `%s` to see why' % (exc, BUILD_HINT)) from exc
    return paths


# --------------------------------------------------------------------------------------------------- PKI


def _pki(directory):
    """CA, serving certificate for 127.0.0.1/localhost and a service-account key (EC P-256: fast to generate)."""
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    pem = serialization.Encoding.PEM

    def write(name, data):
        path = os.path.join(directory, name)
        with open(path, 'wb') as handle:
            handle.write(data)
        os.chmod(path, 0o600)
        return path

    def private(key):
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    ca_key, ca = make_ca('netobs-real-apiserver-ca', now)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName('localhost'), x509.DNSName('kubernetes'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'kube-apiserver')]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    sa_key = ec.generate_private_key(ec.SECP256R1())
    return {
        'ca': write('ca.crt', ca.public_bytes(pem)),
        'cert': write('apiserver.crt', cert.public_bytes(pem)),
        'key': write('apiserver.key', private(key)),
        'sa_key': write('sa.key', private(sa_key)),
        'sa_pub': write('sa.pub', sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)),
    }


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def crd(plural, kind, scope, short_names=()):
    """A minimal cilium.io/v2 CRD: any spec (x-kubernetes-preserve-unknown-fields), as the structural schema requires."""
    return {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition', 'metadata': {'name': '%s.cilium.io' % plural},
        'spec': {'group': 'cilium.io', 'scope': scope,
                 'names': {'plural': plural, 'singular': kind.lower(), 'kind': kind, 'listKind': kind + 'List',
                           'shortNames': list(short_names), 'categories': ['cilium', 'ciliumpolicy']},
                 'versions': [{'name': 'v2', 'served': True, 'storage': True, 'subresources': {'status': {}},
                               'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]},
    }


CILIUM_CRDS = (crd('ciliumnetworkpolicies', 'CiliumNetworkPolicy', 'Namespaced', ('cnp', 'ciliumnp')),
               crd('ciliumclusterwidenetworkpolicies', 'CiliumClusterwideNetworkPolicy', 'Cluster', ('ccnp',)))


# --------------------------------------------------------------------------------------------------- the server


class RealAPIServer:
    """etcd + kube-apiserver on loopback; see the module docstring."""

    def __init__(self, binaries=None, workdir=None):
        self.binaries = binaries
        self.workdir = workdir
        self._own_workdir = workdir is None
        self.procs = {}
        self.port = None
        self.etcd_port = None
        self.pki = None
        self.startup_seconds = None
        self.phases = {}
        self._ctx = None
        self._atexit = False
        self.written = set()     # (api prefix, plural, namespace or '') of every collection written to since reset()

    # -- lifecycle -------------------------------------------------------------------------------------------------------
    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    @property
    def etcd_url(self):
        return 'http://127.0.0.1:%d' % self.etcd_port

    @property
    def ca_file(self):
        return self.pki['ca']

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self, attempts=3):
        started = time.monotonic()
        if self.binaries is None:
            self.binaries = find_binaries()
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='netobs-real-apiserver-')
        self.pki = _pki(self.workdir)
        self._ctx = ssl.create_default_context(cafile=self.pki['ca'])
        with open(os.path.join(self.workdir, 'tokens.csv'), 'w', encoding='utf-8') as handle:
            for name, (token, groups) in USERS.items():
                handle.write('%s,%s,%s%s\n' % (token, name, 'uid-' + name, (',"%s"' % groups) if groups else ''))
        try:
            for attempt in range(attempts):  # a port picked as free can be taken before the process binds it
                try:
                    mark = time.monotonic()
                    self._start_etcd()
                    self.phases['etcd'] = time.monotonic() - mark
                    mark = time.monotonic()
                    self._start_apiserver()
                    self.phases['kube-apiserver'] = time.monotonic() - mark
                    break
                except _PortRace:
                    self._kill_all()
                    if attempt == attempts - 1:
                        raise
            mark = time.monotonic()
            self._install_crds()
            self.phases['crds'] = time.monotonic() - mark
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _spawn(self, name, argv):
        log = open(os.path.join(self.workdir, '%s.log' % name), 'ab')  # pylint: disable=consider-using-with
        try:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent)
        finally:
            log.close()
        self.procs[name] = proc
        if not self._atexit:
            atexit.register(self._kill_all)  # an interpreter that exits without the fixture's teardown still stops them
            self._atexit = True
        return proc

    def _log_tail(self, name, lines=20):
        try:
            with open(os.path.join(self.workdir, '%s.log' % name), encoding='utf-8', errors='replace') as handle:
                return ''.join(handle.readlines()[-lines:])
        except OSError:
            return '(no log)'

    def _wait(self, name, probe, timeout):
        deadline = time.monotonic() + timeout
        error = None
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                tail = self._log_tail(name)
                if 'address already in use' in tail:
                    raise _PortRace(tail)
                raise RuntimeError('%s exited with %s; last lines of its log:\n%s' % (name, proc.returncode, tail))
            try:
                if probe():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError) as exc:
                error = exc
            time.sleep(0.05)
        raise RuntimeError('%s not ready after %ss (last probe error: %s); log:\n%s' % (name, timeout, error, self._log_tail(name)))

    def _start_etcd(self):
        self.etcd_port, peer = free_port(), free_port()
        data = os.path.join(self.workdir, 'etcd')
        shutil.rmtree(data, ignore_errors=True)
        self._spawn('etcd', [
            self.binaries['etcd'], '--name', 'netobs-test', '--data-dir', data,
            '--listen-client-urls', self.etcd_url, '--advertise-client-urls', self.etcd_url,
            '--listen-peer-urls', 'http://127.0.0.1:%d' % peer, '--initial-advertise-peer-urls', 'http://127.0.0.1:%d' % peer,
            '--initial-cluster', 'netobs-test=http://127.0.0.1:%d' % peer, '--unsafe-no-fsync', '--log-level', 'warn'])

        def healthy():
            with urllib.request.urlopen(self.etcd_url + '/health', timeout=2) as response:
                return response.status == 200
        self._wait('etcd', healthy, 30)

    def _start_apiserver(self):
        self.port = free_port()
        pki = self.pki
        self._spawn('kube-apiserver', [
            self.binaries['kube-apiserver'], '--etcd-servers', self.etcd_url,
            '--bind-address', '127.0.0.1', '--secure-port', self.port, '--advertise-address', '127.0.0.1',
            '--tls-cert-file', pki['cert'], '--tls-private-key-file', pki['key'], '--client-ca-file', pki['ca'],
            '--token-auth-file', os.path.join(self.workdir, 'tokens.csv'),
            '--service-account-key-file', pki['sa_pub'], '--service-account-signing-key-file', pki['sa_key'],
            '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
            '--service-cluster-ip-range', '10.96.0.0/24', '--authorization-mode', 'RBAC',
            # no controller-manager creates "default" ServiceAccounts: pods must be admitted without them
            '--disable-admission-plugins', 'ServiceAccount', '--endpoint-reconciler-type', 'none',
            '--profiling=false', '--v', '0'])

        def ready():
            return self.request('GET', '/readyz', timeout=2, raw=True)[0] == 200
        self._wait('kube-apiserver', ready, 90)

    def _install_crds(self):
        for obj in CILIUM_CRDS:
            self.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', obj)
        for obj in CILIUM_CRDS:
            def established(name=obj['metadata']['name']):
                got = self.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/' + name)
                return any(c['type'] == 'Established' and c['status'] == 'True' for c in (got.get('status') or {}).get('conditions') or [])
            self._wait('kube-apiserver', established, 30)

        for obj in CILIUM_CRDS:
            def served(plural=obj['spec']['names']['plural']):  # the REST handler and its cache follow Established by a moment
                return self.request('GET', '/apis/cilium.io/v2/' + plural, raw=True)[0] == 200
            self._wait('kube-apiserver', served, 30)

    def stop(self):
        self._kill_all()
        if self._own_workdir and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _kill_all(self):
        """Stop our two processes by pid: SIGTERM, SIGKILL after 3 s (the data is thrown away anyway)."""
        for name in ('kube-apiserver', 'etcd'):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    # -- requests (as admin unless a user is named) ---------------------------------------------------------------------------
    def token(self, user='admin'):
        return USERS[user][0]

    def request(self, method, path, body=None, params=None, user='admin', timeout=30, raw=False, content_type='application/json'):
        """One request straight to the apiserver; returns the decoded JSON (``raw``: (status, body))."""
        url = self.url + path + ('?' + urllib.parse.urlencode(params) if params else '')
        data = json.dumps(body).encode() if body is not None else None
        for _attempt in range(50):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header('Authorization', 'Bearer %s' % self.token(user))
            req.add_header('Accept', 'application/json')
            if data is not None:
                req.add_header('Content-Type', content_type)
            try:
                with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as err:
                status, payload = err.code, err.read()
            if status != 429:  # "storage is (re)initializing" right after a CRD appears: the harness just waits
                break
            time.sleep(0.1)
        try:
            decoded = json.loads(payload) if payload else {}
        except ValueError:
            decoded = {'message': payload.decode('utf-8', 'replace')}
        if raw:
            return status, decoded
        if status >= 400:
            raise RealAPIError(status, decoded, method, path)
        return decoded

    def write_kubeconfig(self, path, user='admin', server=None, namespace='default', token=None):
        """A kubeconfig for ``user`` (its bearer token, or ``token``); ``server`` defaults to the apiserver (with its CA)."""
        server = server or self.url
        cluster = {'server': server}
        if server.startswith('https://'):
            with open(self.pki['ca'], 'rb') as handle:
                cluster['certificate-authority-data'] = base64.b64encode(handle.read()).decode()
        config = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'test', 'preferences': {},
                  'clusters': [{'name': 'test', 'cluster': cluster}],
                  'users': [{'name': user, 'user': {'token': token or self.token(user)}}],
                  'contexts': [{'name': 'test', 'context': {'cluster': 'test', 'user': user, 'namespace': namespace}}]}
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(config, handle, indent=1)
        os.chmod(path, 0o600)
        return str(path)

    def service_account_token(self, namespace, name, seconds=3600):
        """A bound token for an existing ServiceAccount (TokenRequest), to act as it."""
        review = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest', 'spec': {'expirationSeconds': seconds}}
        return self.request('POST', '/api/v1/namespaces/%s/serviceaccounts/%s/token' % (namespace, name), review)['status']['token']

    # -- objects -----------------------------------------------------------------------------------------------------------
    def touch(self, path):
        """Note a write to the collection of ``path`` (an API path): reset() deletes what is in it."""
        parts = [p for p in path.split('?')[0].split('/') if p]
        head = 2 if parts[:1] == ['api'] else 3
        prefix, rest = '/' + '/'.join(parts[:head]), parts[head:]
        namespace = ''
        if len(rest) >= 3 and rest[0] == 'namespaces':
            namespace, rest = rest[1], rest[2:]
        if rest and parts[:1] in (['api'], ['apis']):
            self.written.add((prefix, rest[0], namespace))

    @staticmethod
    def collection_path(api_version, kind, namespace=None):
        plural, namespaced = PLURALS[kind]
        prefix = '/api/v1' if api_version == 'v1' else '/apis/' + api_version
        if namespaced and namespace:
            return '%s/namespaces/%s/%s' % (prefix, namespace, plural)
        return '%s/%s' % (prefix, plural)

    def _ensure_namespace(self, name, known):
        if not name or name in known:
            return
        status, body = self.request('POST', '/api/v1/namespaces', {'apiVersion': 'v1', 'kind': 'Namespace',
                                                                   'metadata': {'name': name, 'labels': {TEST_LABEL: 'true'}}}, raw=True)
        if status not in (201, 409):
            raise RealAPIError(status, body, 'POST', '/api/v1/namespaces')
        known.add(name)

    def apply(self, obj_or_list):
        """Create (or replace) objects as admin; namespaces are created as needed; ``status`` is written through /status.

        Server-owned metadata of fixtures (uid, resourceVersion, creationTimestamp, managedFields) is dropped. Returns the
        stored objects.
        """
        objs = obj_or_list if isinstance(obj_or_list, list) else obj_or_list.get('items', [obj_or_list]) \
            if obj_or_list.get('kind', '').endswith('List') else [obj_or_list]
        known = set()
        stored = []
        for original in objs:
            obj = json.loads(json.dumps(original))
            meta = obj.setdefault('metadata', {})
            for key in ('uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'selfLink', 'generation'):
                meta.pop(key, None)
            meta.setdefault('labels', {})[TEST_LABEL] = 'true'
            kind, namespace = obj['kind'], meta.get('namespace')
            if kind == 'Namespace':
                known.add(meta['name'])
            self._ensure_namespace(namespace if PLURALS[kind][1] else None, known)
            status_part = obj.pop('status', None) if kind in STATUS_KINDS else None
            path = self.collection_path(obj['apiVersion'], kind, namespace)
            self.touch(path)
            code, body = self.request('POST', path, obj, raw=True)
            if code == 409:
                current = self.request('GET', '%s/%s' % (path, meta['name']))
                obj['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
                body = self.request('PUT', '%s/%s' % (path, meta['name']), obj)
            elif code >= 400:
                raise RealAPIError(code, body, 'POST', path)
            if status_part is not None:
                body['status'] = status_part
                body = self.request('PUT', '%s/%s/status' % (path, meta['name']), body)
            stored.append(body)
        return stored

    def get(self, api_version, kind, namespace, name):
        code, body = self.request('GET', '%s/%s' % (self.collection_path(api_version, kind, namespace), name), raw=True)
        return None if code == 404 else body

    def list(self, api_version, kind, namespace=None, **params):
        return self.request('GET', self.collection_path(api_version, kind, namespace), params=params or None)['items']

    def delete(self, api_version, kind, namespace, name):
        code, _body = self.request('DELETE', '%s/%s' % (self.collection_path(api_version, kind, namespace), name),
                                   {'gracePeriodSeconds': 0}, raw=True)
        return code in (200, 202)

    def grant(self, user, rules, namespace=None, name=None):
        """Bind ``rules`` (RBAC PolicyRules) to ``user``: a Role + RoleBinding in ``namespace``, or cluster-wide."""
        name = name or 'netobs-test-%s' % user
        subjects = [{'kind': 'User', 'apiGroup': 'rbac.authorization.k8s.io', 'name': user}]
        if namespace:
            role = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'Role', 'metadata': {'name': name, 'namespace': namespace},
                    'rules': rules}
            binding = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'RoleBinding', 'metadata': {'name': name, 'namespace': namespace},
                       'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role', 'name': name}, 'subjects': subjects}
        else:
            role = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole', 'metadata': {'name': name}, 'rules': rules}
            binding = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRoleBinding', 'metadata': {'name': name},
                       'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole', 'name': name}, 'subjects': subjects}
        self.apply([role, binding])
        self.wait_allowed(user, rules, namespace)

    @staticmethod
    def groups_of(user):
        if user.startswith('system:serviceaccount:'):
            return ['system:serviceaccounts', 'system:serviceaccounts:' + user.split(':')[2], 'system:authenticated']
        return [g for g in USERS[user][1].split(',') if g] + ['system:authenticated']

    def can(self, user, verb, resource, group='', namespace=None, name=''):
        """What the authorizer answers now (SubjectAccessReview) for ``user`` (a USERS name or system:serviceaccount:ns:name)."""
        resource, _slash, subresource = resource.partition('/')
        review = {'apiVersion': 'authorization.k8s.io/v1', 'kind': 'SubjectAccessReview',
                  'spec': {'user': user, 'groups': self.groups_of(user),
                           'resourceAttributes': {'verb': verb, 'resource': resource, 'subresource': subresource, 'group': group,
                                                  'namespace': namespace or '', 'name': name}}}
        return self.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review)['status'].get('allowed', False)

    def wait_rbac(self, user, verb, resource, group='', namespace=None, allowed=True, timeout=10, name=''):
        """RBAC is served from informer caches: wait until a change of Roles or bindings is in effect."""
        deadline = time.monotonic() + timeout
        while self.can(user, verb, resource, group, namespace, name) != allowed:
            if time.monotonic() > deadline:
                raise RuntimeError('RBAC: %s %s %s/%s in %r still %s after %ss' % (
                    user, verb, group, resource, namespace, 'denied' if allowed else 'allowed', timeout))
            time.sleep(0.02)

    def wait_allowed(self, user, rules, namespace=None, timeout=10):
        """Wait until every (group, resource, verb, resourceName) of ``rules`` is allowed to ``user``."""
        for rule in rules:
            for group in rule.get('apiGroups') or ['']:
                for resource in rule.get('resources') or []:
                    for verb in rule.get('verbs') or []:
                        for name in rule.get('resourceNames') or ['']:
                            self.wait_rbac(user, verb, resource, group, namespace, timeout=timeout, name=name)

    def act_as(self, objects):
        """Apply a ServiceAccount with its (Cluster)Roles and bindings (e.g. a docs/rbac file), wait until the rules are in
        effect, and return (user name, bound token) of the ServiceAccount."""
        self.apply(objects)
        account = next(o for o in objects if o['kind'] == 'ServiceAccount')['metadata']
        user = 'system:serviceaccount:%s:%s' % (account['namespace'], account['name'])
        for role in (o for o in objects if o['kind'] in ('Role', 'ClusterRole')):
            self.wait_allowed(user, role['rules'], role['metadata'].get('namespace'))
        return user, self.service_account_token(account['namespace'], account['name'])

    def compact(self):
        """Make every resourceVersion and continue token handed out so far too old; returns the compacted revision.

        Two writes, then an etcd compaction at the current revision: a watch from version R reads etcd from R+1, so R+1
        must be below the compacted revision for the apiserver to answer 410.
        """
        for _write in range(2):
            self.apply({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'netobs-compaction-tick', 'namespace': 'kube-public'},
                        'data': {'tick': str(time.monotonic_ns())}})
        status = self._etcd('/v3/kv/range', {'key': base64.b64encode(b'/registry/').decode(), 'limit': 1})
        revision = int(status['header']['revision'])
        self._etcd('/v3/kv/compaction', {'revision': revision, 'physical': True})
        return revision

    def _etcd(self, path, body):
        req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method='POST')
        req.add_header('Content-Type', 'application/json')
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    # -- cleanup -----------------------------------------------------------------------------------------------------------
    def reset(self):
        """Delete what tests created: every namespace but the four of a new cluster, with what was written into it, and
        the labelled objects written elsewhere (the collections written to are noted by apply() and the fault proxy)."""
        selector = {'labelSelector': TEST_LABEL, 'gracePeriodSeconds': 0}
        namespaces = [n['metadata']['name'] for n in self.request('GET', '/api/v1/namespaces')['items']]
        owned = [n for n in namespaces if n not in SYSTEM_NAMESPACES]
        calls = []
        for prefix, plural, namespace in sorted(self.written):
            if (prefix, plural) == ('/api/v1', 'namespaces'):
                continue
            path = '%s/namespaces/%s/%s' % (prefix, namespace, plural) if namespace else '%s/%s' % (prefix, plural)
            if namespace in owned:
                calls.append((path, {'gracePeriodSeconds': 0}))   # all of it: the namespace goes too
            elif namespace in SYSTEM_NAMESPACES or not namespace:
                calls.append((path, selector))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(self.request, 'DELETE', path, params=params) for path, params in calls]:
                future.result()
            for future in [pool.submit(self._delete_namespace, n) for n in owned]:
                future.result()
        self.written.clear()

    def _delete_namespace(self, name):
        """No namespace controller runs: empty spec.finalizers through /finalize, after which the DELETE completes."""
        path = '/api/v1/namespaces/' + name
        code, body = self.request('DELETE', path, raw=True)
        if code == 404:
            return
        if code >= 400:
            raise RealAPIError(code, body, 'DELETE', path)
        current = self.request('GET', path, raw=True)[1]
        if current.get('kind') != 'Namespace':
            return
        current['spec']['finalizers'] = []
        self.request('PUT', path + '/finalize', current)


def _die_with_parent():
    """In the child before exec: SIGKILL it when the test process dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class _PortRace(RuntimeError):
    """A process could not bind the port picked for it."""
