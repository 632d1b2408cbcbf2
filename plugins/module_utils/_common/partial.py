# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a source says its result is short: the time budget ran out, or an offline ``src`` held nothing to read.

Both sources (Kubernetes Events and Hubble flows) word these the same way, so users and the report see one phrasing.
"""

from __future__ import annotations

from collections.abc import Callable

PARTIAL_NOTE = 'the result holds what was collected until then (partial)'


def time_up(state, budget: str, what: str, mark_partial: Callable[[str], None]) -> bool:
    """The time budget ran out: mark ``state`` (``timed_out``, ``warnings``) partial once, as a reason
    (``'<budget> reached: <what>'``) and a warning. False when it was already said."""
    if state.timed_out:
        return False
    state.timed_out = True
    why = '%s reached: %s' % (budget, what)
    mark_partial(why)
    state.warnings.append('%s; %s' % (why, PARTIAL_NOTE))
    return True


def empty_src_messages(src, missing: str, contents: str, save_hint: str) -> tuple[str, str]:
    """``(error, warning)`` for an offline ``src`` that holds none of what the source reads: the error when empty is
    not allowed (what it holds, how to save the right thing, ``allow_empty``), the warning when it is."""
    error = ('src %s holds no %s: it contains %s. %s; set allow_empty: true if an empty capture is expected (the evidence '
             'is then reported as incomplete, never as a plain pass).' % (src, missing, contents, save_hint))
    warning = 'src %s holds no %s (%s): evidence is empty and will be reported as incomplete' % (src, missing, contents)
    return error, warning
