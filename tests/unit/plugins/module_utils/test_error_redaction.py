# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 10 (g): a password in a host URL is never echoed in an error message."""

from __future__ import annotations

import types

import pytest
import urllib3.exceptions

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hubble_relay
from ansible_collections.netobs.cilium.plugins.module_utils.k8s import client as kube_api

SECRET = 's3cr3t-Pa55'


class RefusingPool:
    def __init__(self):
        self.urls = []

    def request(self, method, url, **kwargs):
        del method, kwargs
        self.urls.append(url)
        raise urllib3.exceptions.NewConnectionError(None, f'Failed to establish a new connection to {url}: Connection refused')

    def clear(self):
        pass


def api_for(host):
    configuration = types.SimpleNamespace(host=host, token=None, username=None, password=None, verify_ssl=True, ssl_ca_cert=None,
                                          cert_file=None, key_file=None, proxy=None, no_proxy=None, auth_settings=dict)
    client = types.SimpleNamespace(configuration=configuration, rest_client=types.SimpleNamespace(pool_manager=RefusingPool()),
                                   default_headers={})
    return kube_api.KubeAPI(client, sleep=lambda _s: None, max_retries=1)


def test_unreachable_api_error_does_not_echo_the_password():
    api = api_for(f'https://admin:{SECRET}@127.0.0.1:6443')
    with pytest.raises(kube_api.KubeAPIConnectionError) as err:
        api.get('/api/v1/events')
    text = str(err.value)
    assert SECRET not in text and 'admin' not in text, text
    assert 'https://***@127.0.0.1:6443' in text              # still says where it tried
    assert SECRET not in str(err.value.failure(api)['msg'])


@pytest.mark.parametrize('status, body', [
    (401, b'{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}'),
    (500, b'oops'),
])
def test_http_error_messages_do_not_echo_the_password(status, body):
    error = kube_api.error_from_response(status, body, 'GET', '/api/v1/pods', None, f'https://u:{SECRET}@api.example:6443')
    assert SECRET not in str(error)


def test_redact_userinfo_keeps_everything_else():
    assert kube_api.redact_userinfo(f'at https://user:{SECRET}@host:443/path?q=1 and http://h/a@b') == \
        'at https://***@host:443/path?q=1 and http://h/a@b'
    assert kube_api.redact_userinfo('plain user@example.com') == 'plain user@example.com'


def test_relay_address_error_does_not_echo_the_password():
    with pytest.raises(hubble_relay.HubbleError) as err:
        hubble_relay.split_address(f'https://admin:{SECRET}@relay.example:4245')
    assert SECRET not in str(err.value) and 'relay_address' in str(err.value)
