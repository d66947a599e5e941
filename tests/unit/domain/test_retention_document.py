# ruff: noqa: E501  (a table of documents and messages reads best one case per line)
"""The retention document: every field parsed, every mistake refused with the rule and field named, presets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipshape.domain.policies import Environment
from shipshape.domain.retention import (
    RetentionInvalid,
    RetentionPolicy,
    RuleAction,
    TagState,
    parse_retention,
    retention_from_document,
    retention_preset,
)

ISSUE_EXAMPLE = """
rules:
  - name: keep-last-releases        # the 10 most recently pushed v* tags in every repository
    action: keep
    tags: ["v*"]
    most-recent: 10
  - name: expire-old-builds         # every other tagged manifest pushed more than 30 days ago
    action: expire
    tag-state: tagged
    pushed-before: 30d
  - name: expire-untagged
    action: expire
    tag-state: untagged
    pushed-before: 1d
"""


def test_the_documented_example_parses_field_by_field() -> None:
    policy = parse_retention(ISSUE_EXAMPLE)

    keep, old, untagged = policy.rules
    assert (keep.name, keep.action, keep.tags, keep.most_recent) == ("keep-last-releases", RuleAction.KEEP, ("v*",), 10)
    assert (old.tag_state, old.pushed_before) == (TagState.TAGGED, timedelta(days=30))
    assert (untagged.tag_state, untagged.pushed_before) == (TagState.UNTAGGED, timedelta(days=1))
    assert policy.protect_pulled_within == timedelta(days=7)


def test_every_field_and_json_parse() -> None:
    policy = parse_retention(
        '{"protect-pulled-within": "3d", "rules": [{"name": "all", "action": "expire", "repositories": ["web/*"],'
        ' "tags": ["pr-*", "tmp"], "tag-state": "tagged", "pushed-before": "12h", "pushed-within": "2w",'
        ' "pulled-before": "90s", "pulled-within": "30m", "include-immutable": true}]}'
    )

    (rule,) = policy.rules
    assert policy.protect_pulled_within == timedelta(days=3)
    assert rule.repositories == ("web/*",) and rule.tags == ("pr-*", "tmp")
    assert (rule.pushed_before, rule.pushed_within) == (timedelta(hours=12), timedelta(weeks=2))
    assert (rule.pulled_before, rule.pulled_within) == (timedelta(seconds=90), timedelta(minutes=30))
    assert rule.include_immutable


def test_documents_round_trip_through_yaml_and_json() -> None:
    policy = parse_retention(ISSUE_EXAMPLE + "protect-pulled-within: 36h\n")

    assert parse_retention(policy.to_yaml()) == policy
    assert retention_from_document(policy.document()) == policy
    assert policy.document()["protect-pulled-within"] == "36h"


def test_an_empty_rule_list_expires_nothing() -> None:
    assert parse_retention("rules: []") == RetentionPolicy(())


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("rules:\n  - name: a\n    action: expire\n    pushed-befor: 1d\n", r"rule 1 \(a\): field 'pushed-befor' is unknown: did you mean 'pushed-before'"),
        ("rules:\n  - name: a\n    action: delete\n    pushed-before: 1d\n", r"rule 1 \(a\): field 'action' must be keep or expire"),
        ("rules:\n  - name: a\n    action: expire\n    pushed-before: soon\n", r"rule 1 \(a\): field 'pushed-before' must be a duration such as 12h"),
        ("rules:\n  - name: a\n    action: expire\n    tags: ['v[1']\n    pushed-before: 1d\n", r"rule 1 \(a\): field 'tags' holds 'v\[1', which can never match a tag"),
        ("rules:\n  - name: a\n    action: expire\n    tags: ['v 1']\n    pushed-before: 1d\n", r"field 'tags' holds 'v 1'"),
        ("rules:\n  - name: a\n    action: expire\n    repositories: ['Web/*']\n    pushed-before: 1d\n", r"field 'repositories' holds 'Web/\*'"),
        ("rules:\n  - name: a\n    action: expire\n    most-recent: 0\n", r"rule 1 \(a\): field 'most-recent' must be a whole number"),
        ("rules:\n  - name: a\n    action: expire\n", r"rule 1 \(a\): the rule has no condition"),
        ("rules:\n  - name: a\n    action: keep\n    most-recent: 3\n    include-immutable: true\n", r"'include-immutable' belongs on an expire rule"),
        ("rules:\n  - name: a\n    action: expire\n    tag-state: untagged\n    tags: ['v*']\n    pushed-before: 1d\n", r"'tags' cannot go with tag-state: untagged"),
        ("rules:\n  - action: expire\n    pushed-before: 1d\n", r"rule 1: field 'name' must be"),
        ("rules:\n  - {name: a, action: expire, pushed-before: 1d}\n  - {name: a, action: keep, most-recent: 1}\n", r"rule 2 \(a\): the name is used by rule 1"),
        ("rulez: []\n", r"field 'rulez' is unknown: did you mean 'rules'"),
        ("- name: a\n", r"must be a mapping"),
        ("rules: [\n", r"not valid YAML or JSON at line"),
        ("{}", r'no "rules:" list'),
        ("protect-pulled-within: 7 days\nrules: []\n", r"'protect-pulled-within' must be a duration"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_naming_the_rule_and_the_field(document: str, message: str) -> None:
    with pytest.raises(RetentionInvalid, match=message):
        parse_retention(document)


def test_presets_follow_the_environments() -> None:
    development = retention_preset(Environment.DEVELOPMENT)
    staging = retention_preset(Environment.STAGING)
    production = retention_preset(Environment.PRODUCTION)

    assert [(r.name, r.pushed_before) for r in development.rules] == [
        ("expire-untagged", timedelta(days=1)),
        ("expire-old-tags", timedelta(days=30)),
    ]
    assert [(r.action, r.tag_state, r.most_recent) for r in staging.rules[1:]] == [
        (RuleAction.KEEP, TagState.TAGGED, 50),
        (RuleAction.EXPIRE, TagState.TAGGED, 50),
    ]
    assert [(r.tag_state, r.pushed_before) for r in production.rules] == [(TagState.UNTAGGED, timedelta(days=7))]
    for preset in (development, staging, production):
        assert parse_retention(preset.to_yaml()) == preset
