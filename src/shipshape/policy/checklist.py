"""The production-readiness checklist (the seed's section 8), judged for one registry: a pure function of the
registry, its account's registries and credentials, the account's maximum credential age, the registry's retention
rules and the time. Each item passes or fails with the facts that decided it and the `shipshape` command that fixes it.

What each item asks, by the registry's environment (an item a development registry is not held to passes, marked
not applicable, and its evidence says so: development is where mutable tags and members' pushes belong):

- `immutable-tags`: staging and production registries keep every tag immutable, with no `mutable_tags` exception.
- `credential-rotation`: every live credential reaching the registry had its secret issued (created, rotated or
  reset) within the account's maximum credential lifetime, and no credential reaching it expired after being used
  (whatever used it now fails; rotating renews it, revoking ends it). Credentials expired unused are left alone.
- `ci-only-production-pushes`: a production registry lets only CI create manifests (`manifest_creators` `ci` or
  `ci-or-promotion`, the latter also taking promotions of CI-built images).
- `pull-secret`: a staging or production registry has a live pull-only credential that has been used (what a
  cluster's imagePullSecret holds).
- `environment-separation`, for every registry alike: the account has development, staging and production
  registries, and no credential (revoked ones aside) reaches a production registry and a registry of another
  environment.
- `retention-policy`, for every registry: retention rules with at least one expire rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipshape.domain.access import Action, Credential, CredentialKind, Environment, Registry
from shipshape.domain.policies import ManifestCreators, TagMutability
from shipshape.domain.retention import RetentionPolicy, RuleAction

IMMUTABLE_TAGS = "immutable-tags"
CREDENTIAL_ROTATION = "credential-rotation"
CI_ONLY_PRODUCTION_PUSHES = "ci-only-production-pushes"
PULL_SECRET = "pull-secret"
ENVIRONMENT_SEPARATION = "environment-separation"
RETENTION_POLICY = "retention-policy"

TITLES = {
    IMMUTABLE_TAGS: "Immutable image tags",
    CREDENTIAL_ROTATION: "Credentials rotated, none expired in use",
    CI_ONLY_PRODUCTION_PUSHES: "Production pushes only from CI",
    PULL_SECRET: "Image pull secret configured and used",
    ENVIRONMENT_SEPARATION: "Environments separated (development, staging, production)",
    RETENTION_POLICY: "Retention policy defined",
}
PULL_SECRET_NAMESPACE = "default"  # the namespace the suggested `k8s pull-secret` names
_SHORT = {Environment.DEVELOPMENT: "dev", Environment.STAGING: "staging", Environment.PRODUCTION: "prod"}
_DEPLOYED_FROM = (Environment.STAGING, Environment.PRODUCTION)  # where workloads are deployed from
_CI_ONLY = (ManifestCreators.CI, ManifestCreators.CI_OR_PROMOTION)
_PRODUCTION = Environment.PRODUCTION


@dataclass(frozen=True, slots=True)
class ChecklistFacts:
    """Everything the checklist of one registry is judged on."""

    registry: Registry
    registries: Sequence[Registry]  # every registry of its account, itself included
    credentials: Sequence[Credential]  # every credential of its account, revoked and expired ones too
    max_credential_age: timedelta  # the account's maximum credential lifetime
    retention: RetentionPolicy | None  # the registry's retention rules; None: none
    now: datetime


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str  # stable: scripts and the console key on it
    title: str
    passed: bool
    evidence: str  # the facts that decided it, in a sentence
    fix: str | None = None  # the command(s) that make it pass, joined by ` && `; None when it passes
    applicable: bool = True  # False: not asked of this registry's environment (it passes; the evidence says why)


@dataclass(frozen=True, slots=True)
class RegistryChecklist:
    registry: Registry
    items: tuple[ChecklistItem, ...]

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.items)


def evaluate(facts: ChecklistFacts) -> RegistryChecklist:
    """The registry's checklist, its items always in the same order."""
    items = (
        _immutable_tags(facts),
        _credential_rotation(facts),
        _ci_only_production_pushes(facts),
        _pull_secret(facts),
        _environment_separation(facts),
        _retention_policy(facts),
    )
    return RegistryChecklist(facts.registry, items)


# The items


def _immutable_tags(facts: ChecklistFacts) -> ChecklistItem:
    registry, rules = facts.registry, facts.registry.rules
    exceptions = ", ".join(rules.mutable_tags)
    if registry.environment not in _DEPLOYED_FROM:
        state = "mutable" if rules.tag_mutability is TagMutability.MUTABLE else "immutable"
        return _not_applicable(
            IMMUTABLE_TAGS,
            f"{registry.label} keeps its tags {state}: immutable tags are asked of staging and production"
            " registries, which workloads are deployed from",
        )
    if rules.tag_mutability is TagMutability.MUTABLE:
        fix = f"shipshape registry set {registry.name} --tag-mutability immutable"
        return _failed(
            IMMUTABLE_TAGS,
            f"{registry.label} has tag_mutability mutable: a push can move any tag, so v1.2.3 may name a"
            " different image tomorrow",
            fix + (' --mutable-tags ""' if rules.mutable_tags else ""),
        )
    if rules.mutable_tags:
        return _failed(
            IMMUTABLE_TAGS,
            f"{registry.label} has immutable tags except those matching {exceptions} (mutable_tags): a push can"
            " move those",
            f'shipshape registry set {registry.name} --mutable-tags ""',
        )
    return _passed(
        IMMUTABLE_TAGS,
        f"{registry.label} has tag_mutability immutable with no exceptions: a tag, once pushed, never moves to"
        " another digest",
    )


def _credential_rotation(facts: ChecklistFacts) -> ChecklistItem:
    name, now, maximum = facts.registry.name, facts.now, facts.max_credential_age
    reaching = [c for c in facts.credentials if c.revoked_at is None and _reaches(c, name)]
    live = [c for c in reaching if c.expires_at > now]
    stale = [c for c in live if now - c.secret_issued_at > maximum]
    lapsed = [c for c in reaching if c.expires_at <= now and c.last_used_at is not None]
    if stale or lapsed:
        problems = [
            f"{c.username}'s secret was {_issued(c)} {_span(now - c.secret_issued_at)} ago, beyond the account's"
            f" maximum credential age of {_span(maximum)}"
            for c in stale
        ] + [
            f"{c.username} expired {_when(c.expires_at)} after being used (last {_when(c.last_used_at)}): whatever"
            " uses it can no longer log in (rotating renews it; revoke it if nothing needs it)"
            for c in lapsed
        ]
        fixes = [f"shipshape credential rotate {c.username}" for c in _by_username([*stale, *lapsed])]
        return _failed(CREDENTIAL_ROTATION, "; ".join(problems), " && ".join(fixes))
    unused_expired = len(reaching) - len(live)
    tail = f"; {unused_expired} expired without ever being used" if unused_expired else ""
    if not live:
        return _passed(CREDENTIAL_ROTATION, f"no live credential reaches {name}{tail}")
    oldest = min(live, key=lambda c: (c.secret_issued_at, c.username))
    if len(live) == 1:
        who, whose = f"1 live credential, {oldest.username}, reaches", "its secret"
    else:
        who, whose = _reach(len(live), "live credential"), f"the oldest secret, {oldest.username}'s,"
    return _passed(
        CREDENTIAL_ROTATION,
        f"{who} {name}; {whose} was {_issued(oldest)} {_span(now - oldest.secret_issued_at)} ago, within"
        f" the account's maximum credential age of {_span(maximum)}; none expired while in use{tail}",
    )


def _ci_only_production_pushes(facts: ChecklistFacts) -> ChecklistItem:
    registry, creators = facts.registry, facts.registry.rules.manifest_creators
    if registry.environment is not Environment.PRODUCTION:
        return _not_applicable(
            CI_ONLY_PRODUCTION_PUSHES,
            f"{registry.label} takes manifests from {_creators(creators)}: only production registries are held to"
            " pushes from CI alone",
        )
    if creators not in _CI_ONLY:
        return _failed(
            CI_ONLY_PRODUCTION_PUSHES,
            f"{registry.label} has manifest_creators {creators.value}: members and every kind of credential with"
            " push rights can put images into production",
            f"shipshape registry set {registry.name} --manifest-creators ci-or-promotion",
        )
    pushers = [
        c.username for c in _live(facts)
        if c.kind is CredentialKind.CI and _reaches(c, registry.name, Action.PUSH)
    ]  # fmt: skip
    pipeline = (
        f"ci credentials that may push here: {', '.join(pushers)}"
        if pushers
        else "no ci credential may push here yet, so images arrive by promotion"
    )
    return _passed(
        CI_ONLY_PRODUCTION_PUSHES,
        f"{registry.label} has manifest_creators {creators.value}: manifests come from {_creators(creators)},"
        f" members and other credentials are refused; {pipeline}",
    )


def _pull_secret(facts: ChecklistFacts) -> ChecklistItem:
    registry = facts.registry
    pullers = [c for c in _live(facts) if c.kind is CredentialKind.PULL and _reaches(c, registry.name, Action.PULL)]
    if registry.environment not in _DEPLOYED_FROM:
        found = ", ".join(c.username for c in _by_username(pullers)) if pullers else "none"
        return _not_applicable(
            PULL_SECRET,
            f"{registry.label}: developers pull with their own logins; a pull secret is asked of staging and"
            f" production registries (pull-only credentials here: {found})",
        )
    used = sorted((c for c in pullers if c.last_used_at is not None), key=lambda c: c.last_used_at or facts.now)
    if used:
        latest = used[-1]
        names = ", ".join(c.username for c in _by_username(used))
        return _passed(
            PULL_SECRET,
            f"{_reach(len(used), 'used pull-only credential')} {registry.name} ({names}); {latest.username}"
            f" last logged in {_when(latest.last_used_at)}",
        )
    secret = f"shipshape k8s pull-secret {registry.name} --namespace {PULL_SECRET_NAMESPACE}"
    if pullers:
        unused = _by_username(pullers)[0]
        return _failed(
            PULL_SECRET,
            f"{registry.name} has the pull-only credential(s) {', '.join(c.username for c in _by_username(pullers))}"
            " but nothing has logged in with one yet: put it in the cluster's imagePullSecrets and deploy",
            f"{secret} --credential {unused.username} | kubectl apply -f -",
        )
    default = f"{registry.name}+k8s-{PULL_SECRET_NAMESPACE}"
    taken = {c.username for c in facts.credentials}
    fix = (
        f"{secret} | kubectl apply -f -"
        if default not in taken
        else f"shipshape credential create {_free_name(registry.name, 'k8s-pull', taken)} --registry"
        f" {registry.name} --kind pull"
    )
    return _failed(
        PULL_SECRET,
        f"no live pull-only credential reaches {registry.name}: a cluster would have to pull with a member's"
        " password or a CI credential",
        fix,
    )


def _environment_separation(facts: ChecklistFacts) -> ChecklistItem:
    account = facts.registry.account
    by_name = {registry.name: registry for registry in facts.registries}
    present = {e: sorted(r.name for r in facts.registries if r.environment is e) for e in Environment}
    missing = [e for e in Environment if not present[e]]
    spanning = [c for c in _by_username(facts.credentials) if c.revoked_at is None and _spans(c, by_name)]
    if not missing and not spanning:
        registries = ", ".join(f"{e.value} ({', '.join(present[e])})" for e in Environment)
        return _passed(
            ENVIRONMENT_SEPARATION,
            f"account {account} has {registries} registries, and no credential reaches production and another"
            " environment",
        )
    problems = [f"account {account} has no {e.value} registry" for e in missing]
    problems += [f"{c.username} reaches {_environments(c, by_name)}" for c in spanning]
    fixes = [
        f"shipshape registry create {_free_registry(account, e, by_name)} --environment {e.value} --account {account}"
        for e in missing
    ]
    taken = {c.username for c in facts.credentials}
    for credential in spanning:
        fixes += _split(credential, by_name, taken)
    return _failed(ENVIRONMENT_SEPARATION, "; ".join(problems), " && ".join(fixes))


def _retention_policy(facts: ChecklistFacts) -> ChecklistItem:
    registry, policy = facts.registry, facts.retention
    fix = f"shipshape retention set {registry.name} --preset"
    if policy is None:
        return _failed(
            RETENTION_POLICY,
            f"{registry.name} has no retention rules: untagged images and old builds are kept for ever",
            fix,
        )
    expiring = [rule.name for rule in policy.rules if rule.action is RuleAction.EXPIRE]
    if not expiring:
        return _failed(
            RETENTION_POLICY,
            f"{registry.name}'s retention rules are all keep rules ({', '.join(r.name for r in policy.rules)}):"
            " nothing expires, images are kept for ever"
            if policy.rules
            else f"{registry.name}'s retention rules are empty: nothing expires, images are kept for ever",
            fix,
        )
    return _passed(
        RETENTION_POLICY,
        f"{registry.name} has {_count(len(policy.rules), 'retention rule')}: {_rules(policy)};"
        f" `shipshape retention preview {registry.name}` lists what a run deletes",
    )


# Helpers


def _passed(item: str, evidence: str) -> ChecklistItem:
    return ChecklistItem(item, TITLES[item], True, evidence)


def _not_applicable(item: str, evidence: str) -> ChecklistItem:
    return ChecklistItem(item, TITLES[item], True, f"not applicable: {evidence}", applicable=False)


def _failed(item: str, evidence: str, fix: str) -> ChecklistItem:
    return ChecklistItem(item, TITLES[item], False, evidence, fix)


def _live(facts: ChecklistFacts) -> list[Credential]:
    return [c for c in facts.credentials if c.revoked_at is None and c.expires_at > facts.now]


def _reaches(credential: Credential, registry: str, action: Action | None = None) -> bool:
    return any(s.registry == registry and (action is None or action in s.actions) for s in credential.scopes)


def _by_username(credentials: Iterable[Credential]) -> list[Credential]:
    return sorted(credentials, key=lambda c: c.username)


def _scope_environments(credential: Credential, by_name: dict[str, Registry]) -> dict[Environment, list[str]]:
    """The account's registries a credential's scopes name (scopes of deleted registries aside), by environment."""
    found: dict[Environment, list[str]] = {}
    for scope in credential.scopes:
        registry = by_name.get(scope.registry)
        if registry is not None and scope.registry not in found.get(registry.environment, []):
            found.setdefault(registry.environment, []).append(scope.registry)
    return found


def _spans(credential: Credential, by_name: dict[str, Registry]) -> bool:
    environments = _scope_environments(credential, by_name)
    return Environment.PRODUCTION in environments and len(environments) > 1


def _environments(credential: Credential, by_name: dict[str, Registry]) -> str:
    """`production (acme-prod) and development (acme-dev), staging (acme-stage)`."""
    environments = _scope_environments(credential, by_name)
    others = ", ".join(
        f"{e.value} ({', '.join(environments[e])})" for e in Environment if e in environments and e is not _PRODUCTION
    )
    return f"production ({', '.join(environments[Environment.PRODUCTION])}) and {others}"


def _split(credential: Credential, by_name: dict[str, Registry], taken: set[str]) -> list[str]:
    """Commands replacing a credential that spans production and other environments with one for its production
    registries and one for the others (same kind, actions and repositories), then revoking it."""
    environments = _scope_environments(credential, by_name)
    production = environments[Environment.PRODUCTION]
    others = [name for e in Environment if e is not Environment.PRODUCTION for name in environments.get(e, [])]
    commands = []
    for group in (others, production):
        scopes = [s for s in credential.scopes if s.registry in group]
        actions = sorted({action for scope in scopes for action in scope.actions}, key=list(Action).index)
        suffix = _SHORT[by_name[group[0]].environment]
        name = _free_name(group[0], credential.name, taken, suffix)
        taken.add(f"{group[0]}+{name}")
        registries = " ".join(f"--registry {registry}" for registry in group)
        command = (
            f"shipshape credential create {name} {registries} --kind {credential.kind.value}"
            f" --actions {','.join(action.value for action in actions)}"
        )
        glob = scopes[0].repositories
        commands.append(command + (f" --repositories '{glob}'" if glob else ""))
    commands.append(f"shipshape credential revoke {credential.username}")
    return commands


def _free_name(registry: str, name: str, taken: set[str], suffix: str = "") -> str:
    """`name`, else `name-suffix`, else that with `-2`, `-3`…: the first whose login `<registry>+<name>` is free."""
    if f"{registry}+{name}" not in taken:
        return name
    base = f"{name}-{suffix}" if suffix else name
    candidates = [base, *(f"{base}-{n}" for n in range(2, 1000))]
    return next(candidate for candidate in candidates if f"{registry}+{candidate}" not in taken)


def _free_registry(account: str, environment: Environment, by_name: dict[str, Registry]) -> str:
    """A name for the account's missing `environment` registry: `<account>-dev`, `-staging` or `-prod`."""
    base = f"{account}-{_SHORT[environment]}"
    candidates = [base, *(f"{base}-{n}" for n in range(2, 100))]
    return next(candidate for candidate in candidates if candidate not in by_name)


def _creators(creators: ManifestCreators) -> str:
    return {
        ManifestCreators.ANY: "members and every credential with push rights",
        ManifestCreators.CI: "ci credentials only",
        ManifestCreators.CI_OR_PROMOTION: "ci credentials and promotions of CI-built images",
    }[creators]


def _rules(policy: RetentionPolicy) -> str:
    """`expire-untagged (expire), keep-last-50 (keep)`."""
    return ", ".join(f"{rule.name} ({rule.action.value})" for rule in policy.rules)


def _issued(credential: Credential) -> str:
    return "rotated" if credential.rotated_at is not None else "created"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _reach(n: int, what: str) -> str:
    """`1 pull-only credential reaches`, `2 pull-only credentials reach`."""
    return _count(n, what) + (" reaches" if n == 1 else " reach")


def _span(duration: timedelta) -> str:
    """`400d`, `5h`, `12m` or `40s`: the largest whole unit."""
    seconds = max(0, int(duration.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"
