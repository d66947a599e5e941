"""Retention rules: the document a registry's team writes (YAML or JSON), validated, and the environment presets.

```yaml
protect-pulled-within: 7d     # optional (default 7d): a manifest pulled this recently is never expired
rules:
  - name: keep-last-releases  # the 10 most recently pushed v* tags in every repository
    action: keep
    tags: ["v*"]
    most-recent: 10
  - name: expire-untagged
    action: expire
    tag-state: untagged
    pushed-before: 1d
```

Rule fields: `name`, `action` (keep | expire), `repositories` and `tags` (globs with `* ? [ ]`; `*` also matches
`/`; default: all), `tag-state` (tagged | untagged | any), and at least one condition: `most-recent: N`,
`pushed-before` / `pushed-within`, `pulled-before` / `pulled-within` (durations such as 12h, 30d), and on an
expire rule `include-immutable: true`. How they are applied: `shipshape.policy.retention`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

import yaml

from shipshape.domain.durations import parse_duration
from shipshape.domain.errors import PolicyInvalid
from shipshape.domain.policies import Environment

MAX_RULES = 50
MAX_GLOBS = 20
MAX_GLOB_LENGTH = 128
DEFAULT_PROTECTION = timedelta(days=7)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TAG_GLOB = re.compile(r"[A-Za-z0-9_.\-*?\[\]!]+")
_REPOSITORY_GLOB = re.compile(r"[a-z0-9_.\-/*?\[\]!]+")
_DURATIONS = ("pushed-before", "pushed-within", "pulled-before", "pulled-within")
_RULE_FIELDS = (
    "name", "action", "repositories", "tags", "tag-state", "most-recent", *_DURATIONS, "include-immutable",
)  # fmt: skip
_TOP_FIELDS = ("rules", "protect-pulled-within")


class RetentionInvalid(PolicyInvalid):
    """A retention document is malformed; the message names the rule and the field."""


class RuleAction(StrEnum):
    KEEP = "keep"
    EXPIRE = "expire"


class TagState(StrEnum):
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class RetentionRule:
    name: str
    action: RuleAction
    repositories: tuple[str, ...] = ()  # globs over the path inside the registry; empty: every repository
    tags: tuple[str, ...] = ()  # globs; empty: any tag (and untagged manifests too)
    tag_state: TagState = TagState.ANY
    most_recent: int | None = None
    pushed_before: timedelta | None = None
    pushed_within: timedelta | None = None
    pulled_before: timedelta | None = None
    pulled_within: timedelta | None = None
    include_immutable: bool = False

    def selects_repository(self, repository: str) -> bool:
        return not self.repositories or any(fnmatchcase(repository, glob) for glob in self.repositories)

    def selects_tags(self, tags: tuple[str, ...]) -> bool:
        """Whether the tag state and the tag globs admit a manifest with these tags."""
        if self.tag_state is TagState.TAGGED and not tags:
            return False
        if self.tag_state is TagState.UNTAGGED and tags:
            return False
        return not self.tags or any(fnmatchcase(tag, glob) for tag in tags for glob in self.tags)

    def document(self) -> dict[str, object]:
        document: dict[str, object] = {"name": self.name, "action": self.action.value}
        if self.repositories:
            document["repositories"] = list(self.repositories)
        if self.tags:
            document["tags"] = list(self.tags)
        if self.tag_state is not TagState.ANY:
            document["tag-state"] = self.tag_state.value
        if self.most_recent is not None:
            document["most-recent"] = self.most_recent
        for key in _DURATIONS:
            value = getattr(self, key.replace("-", "_"))
            if value is not None:
                document[key] = format_duration(value)
        if self.include_immutable:
            document["include-immutable"] = True
        return document


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    rules: tuple[RetentionRule, ...] = ()
    protect_pulled_within: timedelta = field(default=DEFAULT_PROTECTION)

    def document(self) -> dict[str, object]:
        document: dict[str, object] = {}
        if self.protect_pulled_within != DEFAULT_PROTECTION:
            document["protect-pulled-within"] = format_duration(self.protect_pulled_within)
        document["rules"] = [rule.document() for rule in self.rules]
        return document

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document(), sort_keys=False, default_flow_style=None)


def format_duration(value: timedelta) -> str:
    """`30d`, `12h`, `90s`: the largest unit (up to days) that divides the duration exactly."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_retention(text: str | bytes) -> RetentionPolicy:
    """The policy in `text`, YAML or JSON."""
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise RetentionInvalid(f"the retention rules are not valid YAML or JSON{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise RetentionInvalid(f"the retention rules are not valid YAML or JSON: {error}") from None
    return retention_from_document(document)


def retention_from_document(document: object) -> RetentionPolicy:
    """The policy a parsed document (or the stored JSON) describes, fully validated."""
    if not isinstance(document, Mapping):
        raise RetentionInvalid('the retention rules must be a mapping with a list under "rules:", e.g. rules: []')
    _known(document, _TOP_FIELDS, "the document")
    if "rules" not in document:
        raise RetentionInvalid('the retention rules have no "rules:" list: add one (rules: [] expires nothing)')
    rules = document["rules"]
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise RetentionInvalid('"rules" must be a list of rules, each starting with "- name: …"')
    if len(rules) > MAX_RULES:
        raise RetentionInvalid(f"there are {len(rules)} rules; at most {MAX_RULES} are allowed")
    parsed = tuple(_rule(index, rule) for index, rule in enumerate(rules, start=1))
    names = [rule.name for rule in parsed]
    for index, name in enumerate(names, start=1):
        if names.index(name) != index - 1:
            raise RetentionInvalid(f"rule {index} ({name}): the name is used by rule {names.index(name) + 1} too")
    protection = DEFAULT_PROTECTION
    if "protect-pulled-within" in document:
        try:
            protection = _duration(document["protect-pulled-within"], "protect-pulled-within")
        except PolicyInvalid as error:
            raise RetentionInvalid(error.message) from None
    return RetentionPolicy(parsed, protection)


def _rule(index: int, raw: object) -> RetentionRule:
    where = f"rule {index}"
    if not isinstance(raw, Mapping):
        raise RetentionInvalid(f"{where} must be a mapping such as {{name: expire-untagged, action: expire, …}}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RetentionInvalid(
            f"{where}: field 'name' must be 1 to 64 letters, digits, '.', '_' or '-', e.g. expire-untagged"
        )
    where = f"rule {index} ({name})"
    _known(raw, _RULE_FIELDS, where)
    try:
        return _build(raw, name, where)
    except RetentionInvalid:
        raise
    except PolicyInvalid as error:
        raise RetentionInvalid(f"{where}: {error.message}") from None


def _build(raw: Mapping[Any, Any], name: str, where: str) -> RetentionRule:
    action = _choice(RuleAction, raw.get("action"), "action", required=True)
    rule = RetentionRule(
        name=name,
        action=action,
        repositories=_globs(raw.get("repositories"), "repositories", _REPOSITORY_GLOB),
        tags=_globs(raw.get("tags"), "tags", _TAG_GLOB),
        tag_state=_choice(TagState, raw.get("tag-state", "any"), "tag-state"),
        most_recent=_count(raw.get("most-recent")),
        **{key.replace("-", "_"): _duration(raw[key], key) for key in _DURATIONS if key in raw},
        include_immutable=_boolean(raw.get("include-immutable", False), "include-immutable"),
    )
    if rule.tags and rule.tag_state is TagState.UNTAGGED:
        raise PolicyInvalid("field 'tags' cannot go with tag-state: untagged (untagged manifests have no tags)")
    if rule.include_immutable and action is RuleAction.KEEP:
        raise PolicyInvalid("field 'include-immutable' belongs on an expire rule: a keep rule already keeps them")
    durations = [getattr(rule, key.replace("-", "_")) for key in _DURATIONS]
    if rule.most_recent is None and all(value is None for value in durations):
        raise PolicyInvalid(
            "the rule has no condition: add most-recent, pushed-before, pushed-within, pulled-before or"
            " pulled-within (e.g. pushed-before: 30d; pushed-before: 0s selects everything)"
        )
    return rule


def _known(raw: Mapping[Any, Any], fields: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise RetentionInvalid(f"{where}: field '{key}' is unknown: {hint}the fields are {', '.join(fields)}")


def _choice(kind: type[Any], value: object, name: str, required: bool = False) -> Any:
    choices = " or ".join(member.value for member in kind)
    if value is None and required:
        raise PolicyInvalid(f"field '{name}' is missing: use {choices}")
    try:
        return kind(value) if isinstance(value, str) else kind("\0")
    except ValueError:
        raise PolicyInvalid(f"field '{name}' must be {choices}, not {value!r}") from None


def _globs(value: object, name: str, allowed: re.Pattern[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise PolicyInvalid(f"field '{name}' must be a list of globs, e.g. [\"v*\"]")
    if len(value) > MAX_GLOBS:
        raise PolicyInvalid(f"field '{name}' has {len(value)} globs; at most {MAX_GLOBS} are allowed")
    for glob in value:
        if not isinstance(glob, str) or not glob or len(glob) > MAX_GLOB_LENGTH:
            raise PolicyInvalid(
                f"field '{name}' holds {glob!r}: each glob is a string of 1 to {MAX_GLOB_LENGTH} characters"
            )
        if not allowed.fullmatch(glob) or not _balanced(glob):
            what = "repository path" if name == "repositories" else "tag"
            raise PolicyInvalid(
                f"field '{name}' holds {glob!r}, which can never match a {what}: use the characters a {what} has"
                " and the glob characters * ? [ ] (with every [ closed), e.g. "
                + ("web/*" if name == "repositories" else "v*")
            )
    return tuple(dict.fromkeys(value))


def _balanced(glob: str) -> bool:
    depth = 0
    for character in glob:
        if character == "[":
            if depth:
                return False
            depth = 1
        elif character == "]":
            if not depth:
                return False
            depth = 0
    return depth == 0


def _count(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise PolicyInvalid(f"field 'most-recent' must be a whole number from 1 to 1000000, not {value!r}")
    return value


def _duration(value: object, name: str) -> timedelta:
    try:
        if not isinstance(value, str):
            raise ValueError
        return parse_duration(value)
    except (ValueError, OverflowError):
        raise PolicyInvalid(f"field '{name}' must be a duration such as 12h, 30d or 2w, not {value!r}") from None


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyInvalid(f"field '{name}' must be true or false, not {value!r}")
    return value


def retention_preset(environment: Environment) -> RetentionPolicy:
    """The rules a new registry of `environment` starts with."""
    untagged_after = timedelta(days=1) if environment is Environment.DEVELOPMENT else timedelta(days=7)
    expire_untagged = RetentionRule(
        "expire-untagged", RuleAction.EXPIRE, tag_state=TagState.UNTAGGED, pushed_before=untagged_after
    )
    if environment is Environment.DEVELOPMENT:
        old_tags = RetentionRule(
            "expire-old-tags", RuleAction.EXPIRE, tag_state=TagState.TAGGED, pushed_before=timedelta(days=30)
        )
        return RetentionPolicy((expire_untagged, old_tags))
    if environment is Environment.STAGING:
        return RetentionPolicy(
            (
                expire_untagged,
                RetentionRule("keep-last-50", RuleAction.KEEP, tag_state=TagState.TAGGED, most_recent=50),
                RetentionRule("expire-beyond-50", RuleAction.EXPIRE, tag_state=TagState.TAGGED, most_recent=50),
            )
        )
    # Production: tagged releases are never expired; only what no tag names goes.
    return RetentionPolicy((expire_untagged,))
