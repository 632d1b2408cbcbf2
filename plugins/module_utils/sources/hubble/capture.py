# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming reader for Hubble flow captures (``hubble observe -o json`` output): the fast path.

Sources: a file (plain, or gzip when named ``*.gz`` or starting with the gzip magic bytes), a directory (its
``*.json``, ``*.jsonl``, ``*.txt``, ``*.gz`` files in sorted order), a binary stream (anything with ``readinto``),
``bytes`` content, or an iterable of lines (``str`` or ``bytes``; an item holding several lines is split).
Regular files are memory-mapped in windows; other streams are read into a reusable buffer.

Fast path (default): lines are scanned block by block and only *candidate* lines are JSON-decoded:

* a line whose first ``"verdict":`` is followed by one of the requested verdicts as Hubble prints it (the quoted
  enum name, optionally after one space, or the enum number);
* a line whose first ``"verdict":`` names another verdict but that is not structurally one JSON object (it does not
  start with ``{`` and end with ``}``): a truncated or garbled line is decoded and so found malformed;
* every other non-blank line without ``"verdict":`` (``lost_events``, ``node_status``, and anything that is not a
  Hubble record: compact ``hubble observe`` text, tables, random bytes...), which decoding then classifies.

Every line is counted (``lines_read``). The only lines skipped without decoding are blank lines and complete JSON
object lines that name a verdict that was not requested (``skipped_other_verdicts``): nothing that could be a
requested record or garbage is skipped unseen, so everything not understood is counted (``malformed``,
``other_records``). ``strict=True`` decodes every non-blank line (slow: every flow is parsed and validated).
Lines of ``max_line`` bytes or more are counted malformed in both modes without being decoded.
Besides decoded records, the line holding every ``sample_bytes``-th byte of each input and its last line are
sampled for their node name and time, without decoding, to widen ``nodes`` and the time span.
Results do not depend on the JSON backend, the block size or whether the input came as a file, a stream or lines.

A regular file of ``parallel_min_bytes`` or more is scanned by two processes: a forked child scans the part after a
line start (``PARALLEL_SHARE`` of the way in) and sends back, per block, the line counts and the file offsets of the
lines to sample and decode; this process reads the first part meanwhile, then reads and decodes the child's lines in
order. Results are those of one process (docs/drop-model.md, "Two processes for one large file").
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import stat
import zlib

try:
    import mmap
    HAS_MMAP = hasattr(mmap, 'MAP_SHARED') and hasattr(mmap, 'PROT_READ')
    # Pre-fault the window (Linux): one kernel call instead of a page fault per 4 KiB while scanning.
    _MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, 'MAP_POPULATE', 0) if HAS_MMAP else 0
except ImportError:  # pragma: no cover - mmap is part of CPython on every supported platform
    HAS_MMAP = False
    _MAP_FLAGS = 0

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage, Drop, LostEvents, NodeStatus, parse_time_ns
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import VERDICT_CODES, verdict_name
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.parser import MalformedRecord, get_loads, parse_record

DEFAULT_CHUNK_SIZE = 8 << 20
DEFAULT_MAX_LINE = 16 << 20
DEFAULT_SAMPLE_BYTES = 1 << 20
DEFAULT_MAP_WINDOW = 32 << 20
DEFAULT_PARALLEL_MIN_BYTES = 64 << 20
# Share of a file read by this process when a child scans the rest: this process also decodes and aggregates.
PARALLEL_SHARE = 0.42
# A child that finds more candidate and sampled lines than this gives up (this process then reads its part itself):
# its list of line positions must stay small next to the bytes it spares.
PARALLEL_MAX_POSITIONS = 250_000
CAPTURE_SUFFIXES = ('.json', '.jsonl', '.txt', '.gz')
GZIP_MAGIC = b'\x1f\x8b'

_VERDICT_KEY = b'"verdict":'
_VERDICT_VALUE_AT = len(_VERDICT_KEY)
_OBJECT_ENDS = (b'}', b'}\r')
_NODE_KEYS = (b'"node_name":', b'"nodeName":')
_TIME_KEY = b'"time":'
_NEWLINE = 10


def _value_prefixes(verdicts) -> tuple[bytes, ...]:
    """Byte strings that can follow ``"verdict":`` for the requested verdicts (names and numbers)."""
    prefixes = []
    for name in verdicts:
        quoted = b'"' + name.encode('ascii') + b'"'
        prefixes += [quoted, b' ' + quoted]
        code = VERDICT_CODES.get(name)
        if code is not None:
            number = str(code).encode('ascii')
            for end in (b',', b'}', b' '):
                prefixes += [number + end, b' ' + number + end]
    return tuple(prefixes)


def _string_value(line, key: bytes):
    """The string value of the last ``key`` in a raw JSON line, without decoding it (None if absent)."""
    position = line.rfind(key)
    if position < 0:
        return None
    position += len(key)
    while position < len(line) and line[position] in b' \t':
        position += 1
    if position >= len(line) or line[position] != 34:
        return None
    end = line.find(b'"', position + 1)
    if end < 0 or line.find(b'\\', position + 1, end) >= 0:
        return None
    try:
        return bytes(line[position + 1:end]).decode('utf-8')
    except UnicodeDecodeError:
        return None


class _Input:
    """Per-input position: lines counted so far, next sampled byte offset, last line seen."""

    __slots__ = ('label', 'number', 'next_sample', 'last_line')

    def __init__(self, label: str | None):
        self.label = label
        self.number = 0
        self.next_sample = 0
        self.last_line = None


class CaptureReader:  # pylint: disable=too-many-instance-attributes
    """Read drops from captures; keeps one ``Coverage`` across every ``drops()`` call.

    ``verdicts``: verdict names or numbers to return (default DROPPED). ``strict`` (alias ``validate_all``): decode
    every non-blank line. ``json_backend``: ``auto`` | ``orjson`` | ``json``. ``max_line``: lines this long or longer are
    malformed. ``sample_bytes``: node/time sampling interval. ``use_mmap``/``map_window``/``chunk_size``: I/O tuning.
    ``parallel``: scan the second part of a large regular file (``parallel_min_bytes`` or more) in a forked child while
    this process reads the first part (``auto``: when fork exists and this process may run on two CPUs or more; ``False``:
    never). The child only scans; every record is decoded and counted here in input order, so results are identical.
    """

    def __init__(self, verdicts=('DROPPED',), strict: bool = False, json_backend: str = 'auto',
                 chunk_size: int = DEFAULT_CHUNK_SIZE, max_line: int = DEFAULT_MAX_LINE,
                 sample_bytes: int = DEFAULT_SAMPLE_BYTES, use_mmap: bool = True, map_window: int = DEFAULT_MAP_WINDOW,
                 coverage: Coverage | None = None, validate_all: bool | None = None, parallel: bool | str = 'auto',
                 parallel_min_bytes: int | None = None):
        names = []
        for verdict in verdicts if isinstance(verdicts, (list, tuple, set, frozenset)) else (verdicts,):
            name = verdict_name(verdict)
            if name not in VERDICT_CODES:
                raise ValueError(f'unknown verdict {verdict!r}; use one of {", ".join(VERDICT_CODES)}')
            if name not in names:
                names.append(name)
        if not names:
            raise ValueError('at least one verdict is required')
        if chunk_size < 1 or max_line < 2 or sample_bytes < 1 or map_window < 1:
            raise ValueError('chunk_size, map_window and sample_bytes must be positive and max_line at least 2')
        if validate_all is not None:
            strict = validate_all  # alias
        self.verdicts = frozenset(names)
        self.strict = bool(strict)
        self.backend, self._loads = get_loads(json_backend)
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.sample_bytes = sample_bytes
        self.use_mmap = use_mmap and HAS_MMAP
        self.map_window = map_window
        if parallel not in (True, False, 'auto'):
            raise ValueError("parallel must be true, false or 'auto'")
        self.parallel = parallel
        self.parallel_min_bytes = DEFAULT_PARALLEL_MIN_BYTES if parallel_min_bytes is None else parallel_min_bytes
        self.coverage = coverage if coverage is not None else Coverage()
        self.coverage.strict = strict
        self.coverage.verdicts = tuple(sorted(names))
        self._prefixes = _value_prefixes(names)
        # Bytes that, right after ``"verdict":"``, make a line worth an exact check: everything except the upper-case
        # letters that start none of the requested verdict names.
        letters = frozenset(name.encode('ascii')[0] for name in names)
        self._suspicious = frozenset(range(256)) - (frozenset(range(65, 91)) - letters)

    # ------------------------------------------------------------------ classification / decoding

    def _is_candidate(self, line) -> bool:
        """The exact fast-path decision for one line (without its newline); both scanners end up here."""
        if self.strict:
            return len(line) > 0
        position = line.find(_VERDICT_KEY)
        if position >= 0:
            if line.startswith(self._prefixes, position + _VERDICT_VALUE_AT):
                return True
            # Another verdict: skipped only when the line is structurally one complete JSON object.
            return not (line.startswith(b'{') and line.endswith(_OBJECT_ENDS))
        return len(line.strip()) > 0

    def _decode(self, data, number: int, label: str | None):
        """Decode and account one candidate line; return the Drop when it is a requested one."""
        cov = self.coverage
        if self.strict and not data.strip():
            return None
        cov.decoded += 1
        try:
            record = parse_record(self._loads(data), label, number)
        except MalformedRecord as exc:
            cov.add_malformed(number, label, str(exc))
            return None
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
            cov.add_malformed(number, label, f'{type(exc).__name__}: {exc}')
            return None
        if isinstance(record, Drop):
            cov.flows += 1
            node = record.node
            if node and node not in cov.nodes:
                cov.add_node(node)
            value = record.time_ns
            if value is not None and (cov.first_ns is None or not cov.first_ns <= value <= cov.last_ns):
                cov.add_time(record.time, value)
            if record.verdict in self.verdicts:
                cov.drops += 1
                return record
            return None
        if isinstance(record, LostEvents):
            cov.add_lost(record)
        elif isinstance(record, NodeStatus):
            cov.add_node_status(record)
        else:
            cov.other_records += 1
        return None

    def _sample(self, line) -> None:
        """Node and time of a sampled line, read without decoding it."""
        cov = self.coverage
        for key in _NODE_KEYS:
            node = _string_value(line, key)
            if node:
                cov.add_node(node)
                break
        stamp = _string_value(line, _TIME_KEY)
        if stamp:
            value = parse_time_ns(stamp)
            if value is not None:
                cov.add_time(stamp, value)

    def _overlong(self, state: _Input, newline_offset: int) -> None:
        """Account a line of ``max_line`` bytes or more whose newline is at ``newline_offset`` (never decoded)."""
        state.number += 1
        self.coverage.lines_read += 1
        self.coverage.add_malformed(state.number, state.label, f'line of {self.max_line} bytes or more')
        state.last_line = None
        every = self.sample_bytes
        state.next_sample = max(state.next_sample, (newline_offset // every + 1) * every)

    # ------------------------------------------------------------------ block scanner

    def _scan(self, buf, start: int, end: int, number: int):
        """Count the complete lines ``buf[start:end]`` and return ``(lines, suspects, blank)``: a superset of the
        candidate lines as ``(start, stop, line number)``, decided exactly later by ``_is_candidate``, and the number of
        blank lines that are not suspects. Every other line is skipped as another verdict's complete JSON object."""
        find = buf.find
        suspects = []
        position = start
        first_number = number
        if self.strict:
            for number in itertools.count(number + 1):
                stop = find(b'\n', position, end)
                if stop < 0:
                    break
                if stop > position:
                    suspects.append((position, stop, number))
                position = stop + 1
            return number - 1, suspects, number - 1 - first_number - len(suspects)
        suspicious = self._suspicious
        blank = 0
        try:
            for number in itertools.count(number + 1):
                stop = find(b'\n', position, end)
                if stop < 0:
                    break
                found = find(b'"verdict":', position, stop)
                if found >= 0:
                    # One byte decides: buf[found + 11] is the first letter of a quoted verdict name; anything but an
                    # upper-case letter that starts no requested verdict (a space, digit, quote...) is re-checked exactly,
                    # and so is a line that does not look like one complete JSON object (``{`` ... ``}``).
                    if buf[found + 11] in suspicious or buf[position] != 123 or buf[stop - 1] != 125:
                        suspects.append((position, stop, number))
                elif stop > position:
                    suspects.append((position, stop, number))
                else:
                    blank += 1
                position = stop + 1
        except IndexError:
            # ``"verdict":`` right before the newline that ends the buffer: rescan this block with bounds checks.
            return self._scan_checked(buf, start, end, first_number)
        return number - 1, suspects, blank

    def _scan_checked(self, buf, start: int, end: int, number: int):
        """``_scan`` with every index checked (only used for the rare block where the fast loop ran off its end)."""
        suspects = []
        blank = 0
        position = start
        while position < end:
            stop = buf.find(b'\n', position, end)
            number += 1
            found = buf.find(b'"verdict":', position, stop)
            if found >= 0:
                if found + 11 >= stop or buf[found + 11] in self._suspicious or buf[position] != 123 or buf[stop - 1] != 125:
                    suspects.append((position, stop, number))
            elif stop > position:
                suspects.append((position, stop, number))
            else:
                blank += 1
            position = stop + 1
        return number, suspects, blank

    def _analyze(self, buf, start: int, end: int, delta: int, state: _Input):
        """Scan the complete lines ``buf[start:end]`` (``delta`` + index = offset in the input) and advance ``state``.

        Returns ``(lines, skipped, samples, candidates)``: the number of lines, those skipped as another verdict's
        complete JSON object, the ``(begin, stop)`` of each line to sample and the ``(begin, stop, line number)`` of
        each line to decode, as indexes of ``buf``. Touches nothing but ``state``."""
        number, suspects, blank = self._scan(buf, start, end, state.number)
        lines = number - state.number
        skipped = lines - len(suspects) - blank
        state.number = number
        samples = []
        every = self.sample_bytes
        while state.next_sample < delta + end:
            position = state.next_sample - delta
            newline = buf.rfind(b'\n', start, position)
            line_start = start if newline < 0 else newline + 1
            line_end = buf.find(b'\n', position, end)
            samples.append((line_start, line_end))
            state.next_sample = ((delta + line_end) // every + 1) * every
        previous = buf.rfind(b'\n', start, end - 1)
        state.last_line = (start if previous < 0 else previous + 1, end - 1)
        candidates = []
        for begin, stop, line_number in suspects:
            line = buf[begin:stop]
            if self._is_candidate(line):
                candidates.append((begin, stop, line_number))
            elif line.strip():
                skipped += 1
        return lines, skipped, samples, candidates

    def _apply(self, analyzed, read, label: str | None, first_number: int = 0):
        """Account what ``_analyze`` found and decode its candidates in order; ``read(begin, stop)`` gives a line."""
        lines, skipped, samples, candidates = analyzed
        cov = self.coverage
        cov.lines_read += lines
        for begin, stop in samples:
            self._sample(read(begin, stop))
        cov.skipped_other_verdicts += skipped
        for begin, stop, line_number in candidates:
            drop = self._decode(read(begin, stop), first_number + line_number, label)
            if drop is not None:
                yield drop

    def _block(self, buf, start: int, end: int, delta: int, state: _Input):
        """Process the complete lines ``buf[start:end]``; ``delta`` + index = offset in the input."""
        analyzed = self._analyze(buf, start, end, delta, state)
        begin, stop = state.last_line
        state.last_line = bytes(buf[begin:stop])
        yield from self._apply(analyzed, lambda begin, stop: buf[begin:stop], state.label)

    def _lines(self, lines, state: _Input, offset: int = 0):
        """Process an iterable of lines exactly like the block scanner would process the same bytes."""
        cov = self.coverage
        every = self.sample_bytes
        for item in lines:
            if isinstance(item, str):
                try:
                    item = item.encode('utf-8', 'surrogateescape')
                except UnicodeEncodeError:
                    item = item.encode('utf-8', 'surrogatepass')
            elif isinstance(item, (bytearray, memoryview)):
                item = bytes(item)
            elif not isinstance(item, bytes):
                state.number += 1
                cov.lines_read += 1
                cov.add_malformed(state.number, state.label, f'not a line of text or bytes: {type(item).__name__}')
                continue
            parts = (item[:-1] if item.endswith(b'\n') else item).split(b'\n')
            for line in parts:
                size = len(line)
                if size >= self.max_line:
                    self._overlong(state, offset + size)
                    offset += size + 1
                    continue
                state.number += 1
                cov.lines_read += 1
                if state.next_sample <= offset + size:
                    self._sample(line)
                    state.next_sample = ((offset + size) // every + 1) * every
                state.last_line = line
                offset += size + 1
                if self._is_candidate(line):
                    drop = self._decode(line, state.number, state.label)
                    if drop is not None:
                        yield drop
                elif line.strip():
                    cov.skipped_other_verdicts += 1

    def _finish(self, state: _Input) -> None:
        if state.last_line is not None:
            self._sample(state.last_line)

    # ------------------------------------------------------------------ readers

    def _read_stream(self, stream, state: _Input):
        """Binary stream: fill a reusable buffer (``readinto1`` when available, so live pipes are not held back)."""
        reader = getattr(stream, 'readinto1', None) or stream.readinto
        buf = bytearray(min(self.chunk_size, self.max_line) + 1)
        buf[0] = _NEWLINE  # sentinel: the byte before the first line is a newline
        filled = 1  # buf[1:filled] holds unprocessed input
        delta = -1  # input offset of buf[i] is delta + i
        skipping = False
        eof = False
        while not eof:
            if filled == len(buf):
                if len(buf) - 1 >= self.max_line:
                    skipping, filled = True, 1  # over-long line: drop what we have, find its end
                    delta += len(buf) - 1
                else:
                    grown = bytearray(min(2 * (len(buf) - 1), self.max_line) + 1)
                    grown[:filled] = buf[:filled]
                    buf = grown
            with memoryview(buf) as view:
                got = reader(view[filled:])
            if got:
                filled += got
            else:
                eof = True
            start = 1
            if skipping:
                newline = buf.find(b'\n', 1, filled)
                if newline < 0:
                    if eof:
                        self._overlong(state, delta + filled)
                        skipping = False
                    delta += filled - 1
                    filled = 1
                    continue
                self._overlong(state, delta + newline)
                skipping = False
                start = newline + 1
            last_newline = buf.rfind(b'\n', start, filled)
            if last_newline >= start:
                yield from self._block(buf, start, last_newline + 1, delta, state)
                start = last_newline + 1
            rest = filled - start
            if start > 1:
                buf[1:1 + rest] = buf[start:filled]
                delta += start - 1
            filled = 1 + rest
        if filled > 1:
            yield from self._lines((bytes(buf[1:filled]),), state, delta + 1)

    def _read_mapped(self, handle, size: int, state: _Input, offset: int = 0, handler=None):
        """Regular file from ``offset`` (a line start) to ``size``: scan memory-mapped windows (no copy); a window never
        exceeds ``max_line``. ``handler`` (default: this reader) gets the blocks, over-long lines and the last line."""
        handler = self if handler is None else handler
        fd = handle.fileno()
        granularity = mmap.ALLOCATIONGRANULARITY
        window = min(self.map_window, self.max_line)
        while offset < size:
            base = offset - offset % granularity
            span = window
            while True:
                length = min(offset - base + span, size - base)
                with mmap.mmap(fd, length, flags=_MAP_FLAGS, prot=mmap.PROT_READ, offset=base) as view:
                    start = offset - base
                    last_newline = view.rfind(b'\n', start, length)
                    if last_newline >= 0:
                        yield from handler._block(view, start, last_newline + 1, base, state)
                        offset = base + last_newline + 1
                        break
                    if base + length >= size:
                        yield from handler._lines((view[start:length],), state, offset)
                        offset = size
                        break
                if span >= self.max_line:
                    newline = self._find_newline_mapped(fd, size, offset + self.max_line)
                    handler._overlong(state, newline)
                    offset = newline + 1
                    break
                span = min(2 * span, self.max_line)

    @staticmethod
    def _find_newline_mapped(fd: int, size: int, offset: int) -> int:
        """File offset of the first newline at or after ``offset`` (``size`` when there is none)."""
        granularity = mmap.ALLOCATIONGRANULARITY
        while offset < size:
            base = offset - offset % granularity
            length = min(offset - base + DEFAULT_MAP_WINDOW, size - base)
            with mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=base) as view:
                newline = view.find(b'\n', offset - base, length)
            if newline >= 0:
                return base + newline
            offset = base + length
        return size

    # ------------------------------------------------------------------ two processes for one large file

    def _parallel_split(self, handle, size: int) -> int | None:
        """The line start from which a child scans the file, or None to read it alone."""
        if self.parallel is False or self.strict or size < self.parallel_min_bytes or not hasattr(os, 'fork'):
            return None
        if self.parallel == 'auto':
            try:
                cpus = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                cpus = os.cpu_count() or 1
            if cpus < 2:
                return None
        newline = self._find_newline_mapped(handle.fileno(), size, int(size * PARALLEL_SHARE))
        return newline + 1 if newline + 1 < size else None

    def _scan_part(self, handle, size: int, split: int):
        """In the child: scan ``[split, size)`` and return what this process needs to replay it (offsets in the file)."""
        scanner = _PartScanner(self, split)
        for unexpected in self._read_mapped(handle, size, scanner.state, split, handler=scanner):
            raise AssertionError('the scanner decodes nothing, got %r' % (unexpected,))  # pragma: no cover
        return scanner.events

    def _read_mapped_parallel(self, handle, size: int, state: _Input, split: int):
        """``_read_mapped`` with ``[split, size)`` scanned by a forked child while this process reads ``[0, split)``.

        The child sends back, per block, the counts and the file offsets of the lines to sample and decode; this process
        then replays them in order. If the child fails or gives up, this process reads the rest itself."""
        import pickle  # pylint: disable=import-outside-toplevel
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            yield from self._read_mapped(handle, size, state)
            return
        if pid == 0:  # pragma: no cover - runs in the child (checked through its results)
            status = 1
            try:
                os.close(read_end)
                events = self._scan_part(handle, size, split)
                status = 3 if events is None else 0
                if events is not None:
                    data = pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(write_end, view):]
            except BaseException:  # pylint: disable=broad-exception-caught
                status = 1
            finally:
                os._exit(status)  # pylint: disable=protected-access  # never run the parent's cleanup in the child
        os.close(write_end)
        reaped = False
        try:
            yield from self._read_mapped(handle, split, state)
            chunks = []
            with os.fdopen(read_end, 'rb', closefd=True) as pipe:
                read_end = -1
                chunks.append(pipe.read())
            try:
                succeeded = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
            except ChildProcessError:
                succeeded = True  # reaped by someone else (a SIGCHLD handler): a child that failed wrote no whole pickle
            reaped = True
            events = None
            if succeeded and state.next_sample == _first_sample(split, self.sample_bytes):
                try:
                    events = pickle.loads(b''.join(chunks))
                except Exception:  # pylint: disable=broad-exception-caught  # cut or garbled: read the rest here
                    events = None
            if not isinstance(events, list):
                events = None
            if events is None:
                yield from self._read_mapped(handle, size, state, split)
            else:
                yield from self._replay(handle.fileno(), events, state)
        finally:
            if read_end >= 0:
                os.close(read_end)
            if not reaped:
                try:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                except OSError:
                    pass

    def _replay(self, fd: int, events, state: _Input):
        """Apply the child's events in order, reading the lines it named with ``pread``."""
        first_number = state.number

        def read(begin, stop):
            return os.pread(fd, stop - begin, begin)

        for event in events:
            kind = event[0]
            if kind == 'block':
                analyzed, last_line = event[1:]
                state.number += analyzed[0]
                state.last_line = read(*last_line)
                yield from self._apply(analyzed, read, state.label, first_number)
            elif kind == 'overlong':
                self._overlong(state, event[1])
            else:  # 'tail': the last line of the file, without a newline
                begin, stop, next_sample = event[1:]
                state.next_sample = next_sample
                yield from self._lines((read(begin, stop),), state, begin)

    def _read_path(self, path: str):
        state = _Input(path)
        with open(path, 'rb') as handle:
            magic = handle.read(2)
            handle.seek(0)
            if magic == GZIP_MAGIC or path.endswith('.gz'):
                try:
                    with gzip.GzipFile(fileobj=handle, mode='rb') as unzipped:
                        yield from self._read_stream(unzipped, state)
                except (OSError, EOFError, zlib.error) as exc:
                    # Truncated or corrupt gzip: keep what was read, count the failure, skip the rest of the file.
                    self.coverage.add_malformed(state.number + 1, path, f'corrupt gzip stream, rest of file skipped: {exc}')
            else:
                size = os.fstat(handle.fileno()).st_size
                if self.use_mmap and size > 0 and stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    split = self._parallel_split(handle, size)
                    if split is None:
                        yield from self._read_mapped(handle, size, state)
                    else:
                        yield from self._read_mapped_parallel(handle, size, state, split)
                else:
                    yield from self._read_stream(handle, state)
        self._finish(state)

    def drops(self, source, label: str | None = None):
        """Yield the requested Drops of ``source`` in input order, updating ``self.coverage``.

        ``label`` names a stream or line iterable in evidence references and malformed samples (files use their path).
        """
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if os.path.isdir(path):
                for name in sorted(os.listdir(path)):
                    full = os.path.join(path, name)
                    if name.startswith('.') or not name.endswith(CAPTURE_SUFFIXES) or not os.path.isfile(full):
                        continue
                    self.coverage.add_file(full)
                    yield from self._read_path(full)
                return
            self.coverage.add_file(path)
            yield from self._read_path(path)
            return
        if label is None:
            name = getattr(source, 'name', None)
            label = name if isinstance(name, str) else None
        state = _Input(label)
        if isinstance(source, (bytes, bytearray, memoryview)):
            yield from self._read_stream(io.BytesIO(bytes(source)), state)
        elif hasattr(source, 'readinto'):
            yield from self._read_stream(source, state)
        else:
            yield from self._lines(source, state)
        self._finish(state)


def _first_sample(offset: int, every: int) -> int:
    """The next sampled offset of a sequential read that has just reached the line start ``offset``."""
    return -(-offset // every) * every


class _PartScanner:
    """The handler a forked child gives the reader's window loop over ``[split, size)``: records instead of decoding.

    Line numbers count from 0 at ``split`` (the parent adds its own count); offsets are offsets in the file. Gives up
    (``events`` is None) past ``PARALLEL_MAX_POSITIONS`` lines to sample or decode."""

    def __init__(self, reader: CaptureReader, split: int):
        self.reader = reader
        self.state = _Input(None)
        self.state.next_sample = _first_sample(split, reader.sample_bytes)
        self.events: list | None = []
        self.positions = 0

    def _block(self, buf, start, end, delta, state):
        analyzed = self.reader._analyze(buf, start, end, delta, state)  # pylint: disable=protected-access
        lines, skipped, samples, candidates = analyzed
        self.positions += len(samples) + len(candidates)
        if self.events is not None:
            if self.positions > PARALLEL_MAX_POSITIONS:
                self.events = None
            else:
                begin, stop = state.last_line
                self.events.append(('block', (lines, skipped, [(delta + b, delta + e) for b, e in samples],
                                              [(delta + b, delta + e, n) for b, e, n in candidates]),
                                    (delta + begin, delta + stop)))
        return ()

    def _overlong(self, state, newline_offset):
        state.number += 1
        every = self.reader.sample_bytes
        state.next_sample = max(state.next_sample, (newline_offset // every + 1) * every)
        if self.events is not None:
            self.events.append(('overlong', newline_offset))

    def _lines(self, lines, state, offset):
        (view,) = lines
        if self.events is not None:
            self.events.append(('tail', offset, offset + len(view), state.next_sample))
        return ()


def read_drops(source, label: str | None = None, **options) -> tuple[list[Drop], Coverage]:
    """All requested Drops of ``source`` and the coverage (``options`` as for ``CaptureReader``)."""
    reader = CaptureReader(**options)
    drops = list(reader.drops(source, label))
    return drops, reader.coverage
