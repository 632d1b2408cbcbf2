# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy attribution: which policies and rules decide a connection, and why a drop happened.

Two entry points:

* ``evaluate(snapshot, src, dst, port, protocol) -> Decision`` - "would this traffic be allowed?".
  A connection needs BOTH the source's egress and the destination's ingress to allow it.
* ``attribute(item, snapshot) -> dict`` - for a Drop dict (``Drop.to_dict()``) or a Violation dict
  (``Violation.to_dict()``): resolve both ends, evaluate the direction the drop was observed on and
  return ``{"verdict", "responsible", "allowing", "explanation", "source", "disagreement", ...}``.

``source`` says where the responsible policies come from: ``hubble`` (the flow named them with
relation ``denied_by``), ``event`` (an extended PacketDrop event named them: ``denied_by`` or
``applied``), ``evaluated`` (our engines over the snapshot), ``none`` (nothing selects, not a policy
drop, or no snapshot). When Hubble/the event and the snapshot evaluation disagree, ``disagreement``
says how. Decisions per direction follow Cilium: explicit deny rules win; a subject that no policy
isolates is allowed; otherwise any allowing rule of any policy allows; otherwise default deny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.cilium import (
    CompiledCiliumPolicy,
    compile_cilium_policy,
    evaluate_cilium_policy,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.netpol import (
    EFFECT_DEFAULT_DENY,
    EFFECT_EXPLICIT_DENY,
    EGRESS,
    INGRESS,
    CompiledNetworkPolicy,
    EvalOptions,
    PolicyParseError,
    RuleHit,
    Traffic,
    compile_network_policy,
    evaluate_network_policy,
    l4_text,
    normalize_protocol,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import (
    KIND_CCNP,
    KIND_CNP,
    KIND_NP,
    Endpoint,
    PolicyRecord,
    PolicySnapshot,
    resolve_endpoint,
)

POLICY_REASONS = ('POLICY_DENIED', 'POLICY_DENY')
VERDICT_ALLOW = 'allow'
VERDICT_DENY = 'deny'
VERDICT_UNKNOWN = 'unknown'
MAX_CACHED_DECISIONS = 20000


def combined_verdict(verdicts) -> str:
    """deny if any is deny, else unknown if any is unknown, else allow."""
    if VERDICT_DENY in verdicts:
        return VERDICT_DENY
    if VERDICT_UNKNOWN in verdicts:
        return VERDICT_UNKNOWN
    return VERDICT_ALLOW


class EndpointError(NetobsError, ValueError):
    """An end of a connection that cannot be found in the snapshot."""


# -- compiled policies -------------------------------------------------------------------------------
@dataclass(slots=True)
class CompiledPolicies:
    network: dict[str, list[CompiledNetworkPolicy]] = field(default_factory=dict)
    cilium: dict[str, list[CompiledCiliumPolicy]] = field(default_factory=dict)
    clusterwide: list[CompiledCiliumPolicy] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def compile_snapshot(snapshot: PolicySnapshot) -> CompiledPolicies:
    """Compile every policy of the snapshot once (cached on it); invalid ones become warnings."""
    compiled = snapshot.cache.get('compiled')
    if compiled is not None:
        return compiled
    compiled = CompiledPolicies()
    for record in snapshot.policies:
        try:
            if record.kind == KIND_NP:
                compiled.network.setdefault(record.namespace, []).append(compile_network_policy(record))
                continue
            policy = compile_cilium_policy(record)
        except PolicyParseError as exc:
            message = f'{exc}; policy ignored (Kubernetes/Cilium would reject it)'
            compiled.invalid.append(message)
            snapshot.warnings.append(message)
            continue
        snapshot.warnings.extend(w for w in policy.warnings if w not in snapshot.warnings)
        if record.kind == KIND_CCNP:
            compiled.clusterwide.append(policy)
        else:
            compiled.cilium.setdefault(record.namespace, []).append(policy)
    snapshot.cache['compiled'] = compiled
    return compiled


# -- decisions ------------------------------------------------------------------------------------
@dataclass(slots=True)
class DirectionDecision:
    """The verdict of one direction (egress of the source or ingress of the destination)."""

    direction: str
    traffic: Traffic
    verdict: str
    effect: str   # not-enforced | default-allow | allow-localhost | allowed | default-deny | explicit-deny | undecided
    allowing: tuple[RuleHit, ...] = ()
    denying: tuple[RuleHit, ...] = ()
    isolating: tuple[RuleHit, ...] = ()
    undecided: tuple[RuleHit, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def subject(self) -> Endpoint:
        return self.traffic.subject(self.direction)

    @property
    def peer(self) -> Endpoint:
        return self.traffic.peer(self.direction)

    @property
    def responsible(self) -> tuple[RuleHit, ...]:
        if self.effect == EFFECT_EXPLICIT_DENY:
            return self.denying
        if self.effect == EFFECT_DEFAULT_DENY:
            return self.isolating
        if self.effect == 'undecided':
            maybe_denying = tuple(hit for hit in self.undecided if hit.effect == EFFECT_EXPLICIT_DENY)
            return maybe_denying or self.isolating
        return ()

    def explanation(self) -> str:
        return explain(self)

    def to_dict(self) -> dict:
        return {
            'direction': self.direction,
            'verdict': self.verdict,
            'effect': self.effect,
            'subject': self.subject.to_dict(),
            'peer': self.peer.to_dict(),
            'responsible': [hit.to_dict() for hit in self.responsible],
            'allowing': [hit.to_dict() for hit in self.allowing],
            'undecided': [hit.to_dict() for hit in self.undecided],
            'notes': list(self.notes),
            'explanation': self.explanation(),
        }


@dataclass(slots=True)
class Decision:
    """Both directions of a connection; allowed only when both allow."""

    traffic: Traffic
    egress: DirectionDecision
    ingress: DirectionDecision

    @property
    def verdict(self) -> str:
        return combined_verdict((self.egress.verdict, self.ingress.verdict))

    @property
    def allowed(self) -> bool | None:
        return {VERDICT_ALLOW: True, VERDICT_DENY: False}.get(self.verdict)

    @property
    def denied_by(self) -> tuple[DirectionDecision, ...]:
        return tuple(d for d in (self.egress, self.ingress) if d.verdict == VERDICT_DENY)

    def explanation(self) -> str:
        denied = self.denied_by
        if denied:
            return explain(denied[0])
        undecided = [d for d in (self.egress, self.ingress) if d.verdict == VERDICT_UNKNOWN]
        if undecided:
            return explain(undecided[0])
        return (f'{self.traffic.l4()} from `{self.traffic.source.display()}` to `{self.traffic.destination.display()}` '
                f'is allowed: egress {_effect_words(self.egress)}, ingress {_effect_words(self.ingress)}')

    def to_dict(self) -> dict:
        return {
            'verdict': self.verdict,
            'allowed': self.allowed,
            'source': self.traffic.source.to_dict(),
            'destination': self.traffic.destination.to_dict(),
            'protocol': self.traffic.protocol,
            'port': self.traffic.port,
            'egress': self.egress.to_dict(),
            'ingress': self.ingress.to_dict(),
            'explanation': self.explanation(),
        }


def _effect_words(decision: DirectionDecision) -> str:
    return {
        'not-enforced': 'is not enforced (not a Cilium endpoint)',
        'default-allow': 'is not isolated by any policy',
        'allow-localhost': 'allows the local host',
        'allowed': 'allowed by ' + ', '.join(f'{_policy_label(h.policy)} {h.rule}' for h in decision.allowing),
    }.get(decision.effect, decision.effect)


def evaluate_direction(snapshot: PolicySnapshot, traffic: Traffic, direction: str,
                       options: EvalOptions | None = None) -> DirectionDecision:
    """Evaluate the egress policies of the source or the ingress policies of the destination."""
    options = options or EvalOptions()
    subject = traffic.subject(direction)
    peer = traffic.peer(direction)
    if subject.kind != 'pod':
        why = subject.note or f'{subject.display()} is a reserved identity'
        return DirectionDecision(direction, traffic, VERDICT_ALLOW, 'not-enforced', notes=(why,))
    compiled = compile_snapshot(snapshot)
    evaluations = []
    for policy in compiled.network.get(subject.namespace, ()):
        result = evaluate_network_policy(policy, traffic, direction, options)
        if result is not None:
            evaluations.append(result)
    for policy in list(compiled.cilium.get(subject.namespace, ())) + compiled.clusterwide:
        result = evaluate_cilium_policy(policy, traffic, direction, options)
        if result is not None:
            evaluations.append(result)
    allowing = tuple(hit for e in evaluations for hit in e.allows)
    denying = tuple(hit for e in evaluations for hit in e.denies)
    maybe_allow = tuple(hit for e in evaluations for hit in e.maybe_allows)
    maybe_deny = tuple(hit for e in evaluations for hit in e.maybe_denies)
    isolating = tuple(e.isolation_hit() for e in evaluations if e.default_deny)
    notes = []
    for evaluation in evaluations:
        notes.extend(n for n in evaluation.notes if n not in notes)
    if subject.synthetic and subject.note:
        notes.append(subject.note)
    if peer.note and peer.note not in notes:
        notes.append(peer.note)
    common = {'allowing': allowing, 'denying': denying, 'isolating': isolating, 'notes': tuple(notes)}
    if denying:
        return DirectionDecision(direction, traffic, VERDICT_DENY, EFFECT_EXPLICIT_DENY, **common)
    if maybe_deny:
        return DirectionDecision(direction, traffic, VERDICT_UNKNOWN, 'undecided', undecided=maybe_deny, **common)
    if direction == INGRESS and options.allow_localhost and peer.entity == 'host':
        return DirectionDecision(direction, traffic, VERDICT_ALLOW, 'allow-localhost', **common)
    if not isolating:
        return DirectionDecision(direction, traffic, VERDICT_ALLOW, 'default-allow', **common)
    if allowing:
        return DirectionDecision(direction, traffic, VERDICT_ALLOW, 'allowed', **common)
    if maybe_allow:
        return DirectionDecision(direction, traffic, VERDICT_UNKNOWN, 'undecided', undecided=maybe_allow, **common)
    return DirectionDecision(direction, traffic, VERDICT_DENY, EFFECT_DEFAULT_DENY, **common)


def _cached_direction(snapshot: PolicySnapshot, traffic: Traffic, direction: str, options: EvalOptions) -> DirectionDecision:
    cache = snapshot.cache.setdefault('decisions', {})
    key = (direction, traffic.source.cache_key, traffic.destination.cache_key, traffic.protocol, traffic.port,
           traffic.icmp_type, options)
    found = cache.get(key)
    if found is None:
        if len(cache) >= MAX_CACHED_DECISIONS:
            cache.clear()
        found = cache[key] = evaluate_direction(snapshot, traffic, direction, options)
    return found


def resolve_pair(snapshot: PolicySnapshot, src, dst) -> tuple[Endpoint | None, Endpoint | None]:
    """Resolve both ends; a node IP becomes ``host`` when it is the node of the pod on the other end."""
    source = resolve_endpoint(snapshot, src)
    destination = resolve_endpoint(snapshot, dst)
    if source is not None and destination is not None:
        if source.kind == 'pod' and destination.entity == 'remote-node' and destination.node and destination.node == source.node:
            destination = resolve_endpoint(snapshot, dst, local_node=source.node)
        elif destination.kind == 'pod' and source.entity == 'remote-node' and source.node and source.node == destination.node:
            source = resolve_endpoint(snapshot, src, local_node=destination.node)
    return source, destination


def make_traffic(source: Endpoint, destination: Endpoint, protocol, port, icmp_type: int | None = None) -> Traffic:
    number = None
    if port not in (None, '', 0):
        try:
            number = int(port)
        except (TypeError, ValueError):
            number = None
    return Traffic(source, destination, normalize_protocol(protocol), number, icmp_type)


def evaluate(snapshot: PolicySnapshot, src, dst, port=None, protocol='TCP', *, options: EvalOptions | None = None,
             icmp_type: int | None = None) -> Decision:
    """Would ``src`` -> ``dst`` on ``protocol``/``port`` be allowed by the snapshot's policies?

    ``src``/``dst``: ``"ns/pod"``, ``"ns/workload"``, an IP, a reserved identity (``"world"``), an
    ``Endpoint`` or a dict (``namespace``+``pod``, ``workload``, ``labels`` for a pod that does not exist
    yet, ``reserved``, ``ip``). Raises ``EndpointError`` when an end cannot be resolved.
    """
    options = options or EvalOptions()
    source, destination = resolve_pair(snapshot, src, dst)
    if source is None:
        raise EndpointError(f'cannot resolve the source {src!r} in the policy snapshot (unknown pod, workload or IP)')
    if destination is None:
        raise EndpointError(f'cannot resolve the destination {dst!r} in the policy snapshot (unknown pod, workload or IP)')
    traffic = make_traffic(source, destination, protocol, port, icmp_type)
    return Decision(traffic, _cached_direction(snapshot, traffic, EGRESS, options),
                    _cached_direction(snapshot, traffic, INGRESS, options))


# -- sentences -----------------------------------------------------------------------------------
def _policy_label(policy: PolicyRecord) -> str:
    if policy.kind == KIND_NP:
        return f'`{policy.ref}`'
    return f'{policy.kind} `{policy.ref}`'


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return ''.join(items)
    return ', '.join(items[:-1]) + ' and ' + items[-1]


def _unique_policies(hits: Iterable[RuleHit]) -> list[PolicyRecord]:
    seen, result = set(), []
    for hit in hits:
        if hit.policy.key not in seen:
            seen.add(hit.policy.key)
            result.append(hit.policy)
    return result


def _rules_text(hits: tuple[RuleHit, ...]) -> str:
    word = 'rule' if len(hits) == 1 else 'rules'
    return f"{word} {_join([f'{h.rule} of {_policy_label(h.policy)}' for h in hits])}"


def explain(decision: DirectionDecision) -> str:
    """One sentence saying why this direction allows or denies the traffic."""
    traffic = decision.traffic
    subject = f'`{decision.subject.display()}`'
    peer = f'`{decision.peer.display()}`'
    to_from = 'to' if decision.direction == EGRESS else 'from'
    direction = decision.direction.capitalize()
    l4 = traffic.l4()
    if decision.effect == EFFECT_DEFAULT_DENY:
        policies = _unique_policies(decision.isolating)
        verb = 'selects' if len(policies) == 1 else 'select'
        its = 'its' if len(policies) == 1 else 'their'
        return (f'{_join([_policy_label(p) for p in policies])} {verb} {subject} for {direction} '
                f'and none of {its} rules allows {l4} {to_from} {peer}')
    if decision.effect == EFFECT_EXPLICIT_DENY:
        rules = _rules_text(decision.denying)
        verb = 'denies' if len(decision.denying) == 1 else 'deny'
        return (f'{rules} {verb} {l4} {to_from} {peer} for {subject} on {direction}, '
                'and deny rules take precedence over any allow rule')
    if decision.effect == 'allowed':
        rules = _rules_text(decision.allowing)
        verb = 'allows' if len(decision.allowing) == 1 else 'allow'
        return f'{rules} {verb} {l4} {to_from} {peer} for {subject} on {direction}'
    if decision.effect == 'default-allow':
        return f'no policy isolates {subject} for {direction}, so {l4} {to_from} {peer} is allowed by default'
    if decision.effect == 'allow-localhost':
        return f'traffic from the local host to {subject} is always allowed (Cilium allow-localhost)'
    if decision.effect == 'not-enforced':
        return f'{subject} is not a Cilium-managed pod, so no {direction} policy applies to it'
    rules = _rules_text(decision.undecided)
    why = '; '.join(decision.notes) or 'some rules cannot be evaluated from the snapshot'
    return f'whether {rules} matches {l4} {to_from} {peer} for {subject} on {direction} cannot be decided ({why})'


# -- attribution of drops and violations ---------------------------------------------------------------
def _named_policies(item: Mapping) -> tuple[list[dict], list[dict]]:
    denied, applied = [], []
    for policy in item.get('policies') or []:
        if not isinstance(policy, Mapping) or not policy.get('name'):
            continue
        if policy.get('relation') == 'denied_by':
            denied.append(dict(policy))
        elif policy.get('relation') == 'applied':
            applied.append(dict(policy))
    return denied, applied


def _evidence_kinds(item: Mapping) -> set[str]:
    kinds = set(item.get('evidence_kinds') or [])
    evidence = item.get('evidence')
    if isinstance(evidence, Mapping) and evidence.get('kind'):
        kinds.add(evidence['kind'])
    return kinds


def _named_kind(policy: Mapping) -> str | None:
    if policy.get('clusterwide'):
        return KIND_CCNP
    kind = policy.get('kind')
    return kind if kind in (KIND_NP, KIND_CNP, KIND_CCNP) else None


def _named_key(policy: Mapping) -> tuple[str | None, str | None, str]:
    kind = _named_kind(policy)
    namespace = None if kind == KIND_CCNP else policy.get('namespace')
    return kind, namespace, policy['name']


def _named_label(policy: Mapping) -> str:
    kind, namespace, name = _named_key(policy)
    ref = f'{namespace}/{name}' if namespace else name
    if kind == KIND_NP:
        return f'`{ref}`'
    return f'{kind or "policy"} `{ref}`'


def _record_matches(record: PolicyRecord, named: Mapping) -> bool:
    kind, namespace, name = _named_key(named)
    if record.name != name or (kind and record.kind != kind):
        return False
    return record.clusterwide or not namespace or record.namespace == namespace


def _l4(item: Mapping) -> str:
    return l4_text(normalize_protocol(item.get('protocol')), item.get('port') if isinstance(item.get('port'), int) else None)


def _side_text(side: Mapping | None) -> str:
    side = side or {}
    pod = side.get('pod')
    if not pod and isinstance(side.get('pods'), list) and side['pods']:
        first = side['pods'][0]
        pod = first.get('name') if isinstance(first, Mapping) else first
    workload = side.get('workload')
    if isinstance(workload, Mapping):
        workload = workload.get('name')
    name = pod or workload
    if side.get('namespace') and name:
        return f"{side['namespace']}/{name}"
    if side.get('reserved'):
        return f"{side['reserved']} ({side['ip']})" if side.get('ip') else str(side['reserved'])
    return str(side.get('ip') or 'unknown')


def attribute(item: Mapping, snapshot: PolicySnapshot | None, *, options: EvalOptions | None = None) -> dict:
    """Attribute one Drop or Violation dict to the policies (and rules) responsible for it."""
    return _Attribution(item, snapshot, options or EvalOptions()).run()


def attribute_many(items: Iterable[Mapping], snapshot: PolicySnapshot | None, *, options: EvalOptions | None = None) -> list[dict]:
    """``attribute`` for many items (policies are compiled once, decisions are cached)."""
    options = options or EvalOptions()
    return [_Attribution(item, snapshot, options).run() for item in items]


class _Attribution:
    """One attribution run; kept as a class so the steps stay small and readable."""

    def __init__(self, item: Mapping, snapshot: PolicySnapshot | None, options: EvalOptions):
        self.item = item
        self.snapshot = snapshot
        self.options = options
        self.reason = str(item.get('reason') or '').upper() or None
        direction = str(item.get('direction') or 'unknown').lower()
        self.direction = direction if direction in (INGRESS, EGRESS) else 'unknown'
        self.denied, self.applied = _named_policies(item)
        kinds = _evidence_kinds(item)
        self.named_source = None
        if self.denied:
            self.named_source = 'event' if ('event' in kinds and 'flow' not in kinds) else 'hubble'
        elif self.applied:
            self.named_source = 'event'
        self.notes: list[str] = []
        self.decisions: list[DirectionDecision] = []
        self.traffic: Traffic | None = None

    # -- main flow --
    def run(self) -> dict:
        self._evaluate()
        if self.denied:
            return self._from_named_denied()
        if self.applied:
            return self._from_applied()
        return self._from_evaluation()

    def _evaluate(self) -> None:
        if self.snapshot is None:
            return
        source, destination = resolve_pair(self.snapshot, self.item.get('source'), self.item.get('destination'))
        if source is None or destination is None:
            missing = 'source' if source is None else 'destination'
            self.notes.append(f'the {missing} `{_side_text(self.item.get(missing))}` is not in the policy snapshot')
            return
        self.traffic = make_traffic(source, destination, self.item.get('protocol'), self.item.get('port'))
        directions = (self.direction,) if self.direction in (INGRESS, EGRESS) else (EGRESS, INGRESS)
        self.decisions = [_cached_direction(self.snapshot, self.traffic, d, self.options) for d in directions]

    @property
    def evaluated_verdict(self) -> str:
        if not self.decisions:
            return VERDICT_UNKNOWN
        return combined_verdict([d.verdict for d in self.decisions])

    @property
    def deciding(self) -> list[DirectionDecision]:
        """The direction decisions that explain the verdict (the denying ones when there are any)."""
        for verdict in (VERDICT_DENY, VERDICT_UNKNOWN):
            found = [d for d in self.decisions if d.verdict == verdict]
            if found:
                return found
        return list(self.decisions)

    def _evaluated_hits(self) -> list[RuleHit]:
        return [hit for d in self.deciding for hit in d.responsible]

    def _allowing(self) -> list[dict]:
        return [hit.to_dict() for d in self.decisions for hit in d.allowing]

    def _result(self, verdict, responsible, explanation, source, disagreement=None) -> dict:
        return {
            'verdict': verdict,
            'responsible': responsible,
            'allowing': self._allowing(),
            'explanation': explanation,
            'source': source,
            'disagreement': disagreement,
            'evaluated_verdict': self.evaluated_verdict,
            'direction': self.direction,
            'notes': self.notes + [n for d in self.decisions for n in d.notes if n not in self.notes],
        }

    def _subject_text(self, side: str) -> str:
        if self.traffic is not None:
            endpoint = self.traffic.source if side == 'source' else self.traffic.destination
            return endpoint.display()
        return _side_text(self.item.get(side))

    def _flow_words(self) -> str:
        return f'{_l4(self.item)} from `{self._subject_text("source")}` to `{self._subject_text("destination")}`'

    # -- named by Hubble (or a >=1.19 extended event): "Denied by policies: ..." --
    def _from_named_denied(self) -> dict:
        effect = EFFECT_EXPLICIT_DENY if self.reason in (None, 'POLICY_DENY') else EFFECT_DEFAULT_DENY
        hits = self._evaluated_hits()
        responsible = []
        for named in self.denied:
            record = self._find_record(named)
            rules = [h.rule for h in hits if record is not None and h.policy.key == record.key]
            kind, namespace, name = _named_key(named)
            responsible.append({
                'kind': record.kind if record is not None else kind,
                'namespace': record.namespace if record is not None else namespace,
                'name': name,
                'uid': record.uid if record is not None else None,
                'rule': ','.join(r for r in rules if r) or None,
                'effect': effect,
            })
        who = 'Hubble' if self.named_source == 'hubble' else 'The PacketDrop event'
        labels = _join([_named_label(p) for p in self.denied])
        explanation = f'{who} reports that {labels} denied {self._flow_words()}'
        if self.direction in (INGRESS, EGRESS):
            explanation += f' on {self.direction.capitalize()}'
        problems = [self._compare_named()]
        if self.decisions and self.evaluated_verdict == VERDICT_DENY:
            problems.append(self._reason_disagreement(self.deciding))
        disagreement = '; '.join(p for p in problems if p) or None
        return self._result(VERDICT_DENY, responsible, explanation, self.named_source, disagreement)

    # -- extended event without "Denied by": "Applied policies: ..." --
    def _from_applied(self) -> dict:
        if self.snapshot is None or not self.decisions:
            responsible = [{'kind': _named_key(p)[0], 'namespace': _named_key(p)[1], 'name': p['name'], 'uid': None,
                            'rule': None, 'effect': EFFECT_DEFAULT_DENY} for p in self.applied]
            explanation = (f'The PacketDrop event lists the policies applied to the endpoint '
                           f'({_join([_named_label(p) for p in self.applied])}) but not which one denied {self._flow_words()}')
            return self._result(VERDICT_DENY, responsible, explanation, 'event', None)
        base = self._from_evaluation(source_if_found='event')
        problems = []
        for hit in self._evaluated_hits():
            if not any(_record_matches(hit.policy, p) for p in self.applied):
                problems.append(f'{_policy_label(hit.policy)} is responsible in the snapshot but the event does not list it as applied')
        for named in self.applied:
            if self._find_record(named) is None:
                problems.append(f'the event lists {_named_label(named)}, which is not in the policy snapshot')
        if base['disagreement']:
            problems.insert(0, base['disagreement'])
        base['disagreement'] = '; '.join(problems) or None
        base['source'] = 'event'
        return base

    # -- nothing named: our evaluation only --
    def _from_evaluation(self, source_if_found: str = 'evaluated') -> dict:
        flow = self._flow_words()
        if self.snapshot is None:
            return self._result(VERDICT_UNKNOWN, [], f'No policy snapshot is available to attribute the drop of {flow}',
                                'none', None)
        if not self.decisions:
            return self._result(VERDICT_UNKNOWN, [], f'The drop of {flow} cannot be attributed: ' + '; '.join(self.notes),
                                'none', None)
        verdict = self.evaluated_verdict
        deciding = self.deciding
        explanation = _capitalize(explain(deciding[0]))
        if len(deciding) > 1 and deciding[1].verdict == deciding[0].verdict != VERDICT_ALLOW:
            explanation += '; and ' + explain(deciding[1])
        if self.reason and self.reason not in POLICY_REASONS:
            explanation = (f'The drop reason {self.reason} is not a network-policy verdict; for reference, '
                           f'{explain(deciding[0])}')
            return self._result(verdict, [], explanation, 'none', None)
        responsible = [hit.to_dict() for hit in self._evaluated_hits()]
        disagreement = None
        if verdict == VERDICT_ALLOW and self.reason in POLICY_REASONS:
            disagreement = self._allow_disagreement()
        elif verdict == VERDICT_DENY:
            disagreement = self._reason_disagreement(deciding)
        source = source_if_found if responsible else 'none'
        return self._result(verdict, responsible, explanation, source, disagreement)

    # -- comparisons --
    def _find_record(self, named: Mapping) -> PolicyRecord | None:
        if self.snapshot is None:
            return None
        return next((r for r in self.snapshot.policies if _record_matches(r, named)), None)

    def _compare_named(self) -> str | None:
        if self.snapshot is None or not self.decisions:
            return None
        who = 'Hubble' if self.named_source == 'hubble' else 'the PacketDrop event'
        texts = [_named_label(n) + ('' if self._find_record(n) is not None else ' (not in the policy snapshot)') for n in self.denied]
        names = _join(texts)
        if self.evaluated_verdict == VERDICT_ALLOW:
            return self._allow_disagreement(prefix=f'{who} names {names}')
        if self.evaluated_verdict != VERDICT_DENY:
            return None
        ours = _unique_policies(self._evaluated_hits())
        extra = [p for p in ours if not any(_record_matches(p, n) for n in self.denied)]
        missing = [n for n in self.denied if not any(_record_matches(p, n) for p in ours)]
        if not extra and not missing:
            return None
        return f"{who} names {names} but the snapshot evaluation blames {_join([_policy_label(p) for p in ours]) or 'no policy'}"

    def _allow_disagreement(self, prefix: str | None = None) -> str:
        allowing = [d for d in self.decisions if d.verdict == VERDICT_ALLOW]
        why = explain(allowing[0]) if allowing else 'the snapshot allows it'
        start = prefix or f'Cilium dropped this traffic ({self.reason or "policy verdict"})'
        return (f'{start} but in the policy snapshot {why}; the policies may have changed since the drop '
                f'or the drop was observed on another direction')

    def _reason_disagreement(self, deciding: list[DirectionDecision]) -> str | None:
        effects = {d.effect for d in deciding}
        if self.reason == 'POLICY_DENY' and EFFECT_EXPLICIT_DENY not in effects:
            return ('Cilium reports an explicit deny (POLICY_DENY) but no deny rule of the snapshot matches; '
                    'the snapshot attributes the drop to default deny')
        if self.reason == 'POLICY_DENIED' and effects == {EFFECT_EXPLICIT_DENY}:
            return ('Cilium reports a default deny (POLICY_DENIED) but a deny rule of the snapshot matches; '
                    'the deny rule may be newer than the drop')
        return None


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:] if text and not text.startswith('`') else text
