# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON writer for compliance reports and fleet roll-ups.

The document is written as built (key order is deterministic), indented, UTF-8, with a trailing newline.
It validates against ``docs/schemas/report.schema.json`` (reports) or ``docs/schemas/fleet.schema.json``
(roll-ups). ``content_hash`` and ``run.generated_at`` (``generated_at`` for roll-ups) let a later run
recognise unchanged content.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


def render(report: Mapping) -> bytes:
    """The report as pretty-printed JSON bytes."""
    return (json.dumps(report, indent=2, ensure_ascii=False, default=str) + '\n').encode('utf-8')
