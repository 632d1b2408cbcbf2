# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of every error the collection raises for a user to read (no third-party imports).

Every public exception class of ``module_utils`` derives from ``NetobsError``, so a caller (a module, a test, a
user's script) can catch "anything netobs reports" with one ``except NetobsError`` while the specific classes
(``HubbleError``, ``DropEventsError``, ``KubeAPIError``, ...) keep their names, attributes and messages. Classes that
were ``ValueError`` subclasses stay ``ValueError`` too (``class X(NetobsError, ValueError)``).
"""

from __future__ import annotations

import re

# scheme://user:password@host -> scheme://***@host: credentials in an address never reach a message or a log.
_USERINFO = re.compile(r'(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#@\'"]*(?:@[^/\s?#@\'"]*)*@')


def redact_userinfo(text) -> str:
    """``text`` with the user:password part of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r'\1***@', str(text))


class NetobsError(Exception):
    """A failure meant for a user: ``str(err)`` is a message fit for ``fail_json`` (what happened, what to do)."""
