"""Which manifests a retention run deletes, by which rule, and why the others stay: a pure function of the rules,
the registry's inventory and the time.

- A rule selects a manifest when its repository matches `repositories`, its tags fit `tag-state` and `tags` (a
  manifest matches `tags` when one of its tags does; an untagged one never does), and every condition holds:
  `pushed-before: D` (pushed at least D ago), `pushed-within: D` (less than D ago), `pulled-before: D` (not pulled
  for D; never pulled counts as pulled when pushed, so a fresh push is not expired for want of pulls),
  `pulled-within: D`, and `most-recent: N`, which ranks per repository the manifests the rule's other filters
  select, newest push first: a keep rule selects the N newest, an expire rule all but them (both read "keep the
  N most recent", as ECR's imageCountMoreThan does). A re-tag counts as a push.
- A manifest is deleted when an expire rule selects it, no keep rule does (keep wins), and no protection applies:
  pulled within the protection window (7 days unless the document says otherwise), or, in a production registry,
  an immutable tag unless the expire rule says `include-immutable: true`. The rule reported is the first expire
  rule that selects it.
- What depends on another manifest goes with it, never before it: the images an index lists and the referrers
  (signatures, SBOMs) of a subject are not expired on their own; they are deleted when every manifest they depend
  on is deleted, unless they are tagged themselves, a keep rule selects them, or they were pulled recently.
  Deletions are ordered so that a parent always comes before what goes with it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.domain.retention import RetentionPolicy, RetentionRule, RuleAction, format_duration


@dataclass(frozen=True, slots=True)
class RetentionCandidate:
    repository: str  # the path inside the registry, e.g. web/api
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None
    blobs: Mapping[str, int]
    children: tuple[str, ...] = ()
    subject: str | None = None

    @property
    def size(self) -> int:
        return sum(self.blobs.values())


@dataclass(frozen=True, slots=True)
class PlannedDeletion:
    candidate: RetentionCandidate
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class KeptManifest:
    candidate: RetentionCandidate
    rule: str  # the expire rule that selected it
    reason: str


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    deletions: tuple[PlannedDeletion, ...]
    kept: tuple[KeptManifest, ...]
    survivors: tuple[RetentionCandidate, ...]

    def freed_bytes(self, in_use_elsewhere: Collection[str] = ()) -> int:
        """Bytes of the distinct blobs only deleted manifests reference (and nothing in `in_use_elsewhere`)."""
        used = {digest for survivor in self.survivors for digest in survivor.blobs} | set(in_use_elsewhere)
        freed: dict[str, int] = {}
        for deletion in self.deletions:
            for digest, size in deletion.candidate.blobs.items():
                if digest not in used:
                    freed[digest] = size
        return sum(freed.values())


_Key = tuple[str, str]  # repository, digest


def plan_retention(
    policy: RetentionPolicy,
    candidates: Sequence[RetentionCandidate],
    now: datetime,
    *,
    tag_is_immutable: Callable[[str], bool],
    production: bool,
) -> RetentionPlan:
    """Every rule, protection and dependency stays inside one repository, so each is planned on its own, in the
    order of the repositories' names: the same plan as one over all of them, and a working set that stays one
    repository's size however large the registry grows."""
    by_repository: dict[str, list[RetentionCandidate]] = defaultdict(list)
    for candidate in candidates:
        by_repository[candidate.repository].append(candidate)
    plans = [
        _plan_repository(policy, by_repository[name], now, tag_is_immutable, production)
        for name in sorted(by_repository)
    ]
    return RetentionPlan(
        tuple(deletion for plan in plans for deletion in plan.deletions),
        tuple(kept for plan in plans for kept in plan.kept),
        tuple(survivor for plan in plans for survivor in plan.survivors),
    )


def _plan_repository(
    policy: RetentionPolicy,
    candidates: Sequence[RetentionCandidate],
    now: datetime,
    tag_is_immutable: Callable[[str], bool],
    production: bool,
) -> RetentionPlan:
    by_key = {(c.repository, c.digest): c for c in candidates}
    parents = _parents(candidates, by_key)
    roots = [c for c in candidates if not parents.get((c.repository, c.digest))]
    selected = {rule.name: _selected(rule, candidates, now) for rule in policy.rules}
    keepers = [rule for rule in policy.rules if rule.action is RuleAction.KEEP]
    expirers = [rule for rule in policy.rules if rule.action is RuleAction.EXPIRE]
    why = {rule.name: _why(rule) for rule in expirers}  # one string per rule, shared by its deletions

    def kept_by_rule(key: _Key) -> str | None:
        return next((rule.name for rule in keepers if key in selected[rule.name]), None)

    def recently_pulled(candidate: RetentionCandidate) -> str | None:
        pulled = candidate.last_pulled_at
        if pulled is not None and pulled > now - policy.protect_pulled_within:
            return (
                f"pulled {_ago(now - pulled)} ago, within the {format_duration(policy.protect_pulled_within)}"
                " protection window"
            )
        return None

    deleted: dict[_Key, PlannedDeletion] = {}
    kept: list[KeptManifest] = []
    for candidate in roots:
        key = (candidate.repository, candidate.digest)
        rule = next((rule for rule in expirers if key in selected[rule.name]), None)
        if rule is None:
            continue
        reason = _protection(candidate, rule, kept_by_rule(key), recently_pulled(candidate), tag_is_immutable,
                             production)  # fmt: skip
        if reason is not None:
            kept.append(KeptManifest(candidate, rule.name, reason))
        else:
            deleted[key] = PlannedDeletion(candidate, rule.name, why[rule.name])
    order = _dependents_follow(candidates, by_key, parents, deleted, kept, kept_by_rule, recently_pulled)
    survivors = tuple(c for c in candidates if (c.repository, c.digest) not in deleted)
    return RetentionPlan(tuple(deleted[key] for key in order), tuple(kept), survivors)


def _parents(
    candidates: Sequence[RetentionCandidate], by_key: Mapping[_Key, RetentionCandidate]
) -> dict[_Key, set[_Key]]:
    """For each dependent manifest: the indexes listing it and its subject, among the candidates."""
    parents: dict[_Key, set[_Key]] = defaultdict(set)
    for candidate in candidates:
        key = (candidate.repository, candidate.digest)
        for child in candidate.children:
            if (candidate.repository, child) in by_key and child != candidate.digest:
                parents[(candidate.repository, child)].add(key)
        if candidate.subject is not None and (candidate.repository, candidate.subject) in by_key:
            parents[key].add((candidate.repository, candidate.subject))
    return parents


def _dependents_follow(
    candidates: Sequence[RetentionCandidate],
    by_key: Mapping[_Key, RetentionCandidate],
    parents: Mapping[_Key, set[_Key]],
    deleted: dict[_Key, PlannedDeletion],
    kept: list[KeptManifest],
    kept_by_rule: Callable[[_Key], str | None],
    recently_pulled: Callable[[RetentionCandidate], str | None],
) -> list[_Key]:
    """Add the dependents whose parents all go (to a fixed point); the deletion order, parents first."""
    order = sorted(deleted, key=lambda key: (key[0], deleted[key].candidate.pushed_at, key[1]))
    decided: set[_Key] = set()
    frontier = deque(order)
    children_of: dict[_Key, list[_Key]] = defaultdict(list)
    for child, its_parents in parents.items():
        for parent in its_parents:
            children_of[parent].append(child)
    while frontier:
        parent = frontier.popleft()
        for child in sorted(children_of.get(parent, [])):
            if child in deleted or child in decided or not all(p in deleted for p in parents[child]):
                continue
            decided.add(child)
            candidate, first = by_key[child], deleted[sorted(parents[child])[0]]
            relation = (
                "subject"
                if candidate.subject is not None and (child[0], candidate.subject) in parents[child]
                else "index"
            )
            reason = (
                f"tagged itself ({', '.join(candidate.tags)})" if candidate.tags
                else (f"kept by rule {kept_by_rule(child)}" if kept_by_rule(child) else recently_pulled(candidate))
            )  # fmt: skip
            if reason is not None:
                kept.append(KeptManifest(candidate, first.rule, f"{reason}; its {relation} {parent[1]} goes"))
                continue
            deleted[child] = PlannedDeletion(candidate, first.rule, f"with its {relation} {parent[1]}")
            order.append(child)
            frontier.append(child)
    return order


def _selected(rule: RetentionRule, candidates: Sequence[RetentionCandidate], now: datetime) -> set[_Key]:
    """The manifests `rule` selects."""
    matching = [c for c in candidates if _matches(rule, c, now)]
    if rule.most_recent is None:
        return {(c.repository, c.digest) for c in matching}
    by_repository: dict[str, list[RetentionCandidate]] = defaultdict(list)
    for candidate in matching:
        by_repository[candidate.repository].append(candidate)
    found: set[_Key] = set()
    for repository, members in by_repository.items():
        members.sort(key=lambda c: (c.pushed_at, c.digest), reverse=True)
        chosen = members[: rule.most_recent] if rule.action is RuleAction.KEEP else members[rule.most_recent :]
        found.update((repository, c.digest) for c in chosen)
    return found


def _matches(rule: RetentionRule, candidate: RetentionCandidate, now: datetime) -> bool:
    if not rule.selects_repository(candidate.repository) or not rule.selects_tags(candidate.tags):
        return False
    pushed, pulled = candidate.pushed_at, candidate.last_pulled_at or candidate.pushed_at
    return (
        (rule.pushed_before is None or pushed <= now - rule.pushed_before)
        and (rule.pushed_within is None or pushed > now - rule.pushed_within)
        and (rule.pulled_before is None or pulled <= now - rule.pulled_before)
        and (rule.pulled_within is None or pulled > now - rule.pulled_within)
    )


def _protection(
    candidate: RetentionCandidate,
    rule: RetentionRule,
    keeper: str | None,
    pulled: str | None,
    tag_is_immutable: Callable[[str], bool],
    production: bool,
) -> str | None:
    if keeper is not None:
        return f"kept by rule {keeper}"
    if pulled is not None:
        return pulled
    if production and not rule.include_immutable:
        immutable = next((tag for tag in candidate.tags if tag_is_immutable(tag)), None)
        if immutable is not None:
            return (
                f"immutable tag {immutable} in a production registry: add include-immutable: true to rule"
                f" {rule.name} to expire it"
            )
    return None


def _why(rule: RetentionRule) -> str:
    parts = []
    if rule.most_recent is not None:
        parts.append(f"beyond the {rule.most_recent} most recent")
    for label, value in (("pushed before", rule.pushed_before), ("pushed within", rule.pushed_within),
                         ("not pulled for", rule.pulled_before), ("pulled within", rule.pulled_within)):  # fmt: skip
        if value is not None:
            parts.append(f"{label} {format_duration(value)}")
    return ", ".join(parts)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
