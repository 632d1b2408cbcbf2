# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loopback test servers (Kubernetes API, Hubble Relay) used by the integration tests.

Nothing here is shipped with the collection; see ``tests/servers/README.md``.
"""

from __future__ import annotations
