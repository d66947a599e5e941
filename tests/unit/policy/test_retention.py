"""The retention planner: what a run deletes, by which rule, and why the rest stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipshape.domain.retention import RetentionPolicy, parse_retention
from shipshape.policy.retention import RetentionCandidate, RetentionPlan, plan_retention

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def image(
    digest: str,
    *tags: str,
    age: timedelta = 60 * DAY,
    pulled: timedelta | None = None,
    repository: str = "web/api",
    blobs: dict[str, int] | None = None,
    children: tuple[str, ...] = (),
    subject: str | None = None,
) -> RetentionCandidate:
    return RetentionCandidate(
        repository=repository,
        digest=digest,
        tags=tags,
        pushed_at=NOW - age,
        last_pulled_at=None if pulled is None else NOW - pulled,
        blobs=blobs if blobs is not None else {f"layer-{digest}": 100},
        children=children,
        subject=subject,
    )


def plan(policy: str | RetentionPolicy, *candidates: RetentionCandidate, production: bool = False) -> RetentionPlan:
    rules = parse_retention(policy) if isinstance(policy, str) else policy
    return plan_retention(
        rules, candidates, NOW, tag_is_immutable=lambda tag: tag.startswith("v"), production=production
    )


def deleted(result: RetentionPlan) -> list[str]:
    return [deletion.candidate.digest for deletion in result.deletions]


EXPIRE_OLD = "rules: [{name: expire-old, action: expire, pushed-before: 30d}]"


def test_an_expire_rule_deletes_what_it_selects_and_names_itself() -> None:
    result = plan(EXPIRE_OLD, image("old"), image("new", age=DAY))

    assert deleted(result) == ["old"]
    assert result.deletions[0].rule == "expire-old"
    assert result.deletions[0].reason == "pushed before 30d"


def test_keep_rules_win_over_expire_rules() -> None:
    policy = EXPIRE_OLD[:-1] + ", {name: keep-releases, action: keep, tags: ['v*'], most-recent: 10}]"

    result = plan(policy, image("release", "v1.0.0"), image("build", "build-7"))

    assert deleted(result) == ["build"]
    assert [(k.candidate.digest, k.reason) for k in result.kept] == [("release", "kept by rule keep-releases")]


def test_most_recent_keeps_the_newest_per_repository() -> None:
    policy = (
        "rules: [{name: keep-3, action: keep, most-recent: 3}, {name: expire-all, action: expire, pushed-before: 0s}]"
    )
    images = [image(f"a{n}", f"t{n}", age=n * DAY) for n in range(1, 6)]
    images += [image(f"b{n}", f"t{n}", age=n * DAY, repository="worker") for n in range(1, 3)]

    assert sorted(deleted(plan(policy, *images))) == ["a4", "a5"]


def test_most_recent_on_an_expire_rule_expires_all_but_the_newest() -> None:
    policy = "rules: [{name: only-2, action: expire, tag-state: tagged, most-recent: 2}]"

    result = plan(policy, *[image(f"a{n}", f"t{n}", age=n * DAY) for n in range(1, 5)], image("untagged", age=9 * DAY))

    assert deleted(result) == ["a4", "a3"]  # oldest first


def test_tag_state_and_tag_globs_select() -> None:
    policy = (
        "rules: [{name: untagged, action: expire, tag-state: untagged, pushed-before: 1d},"
        " {name: pr, action: expire, tags: ['pr-*'], pushed-before: 1d}]"
    )

    result = plan(policy, image("loose"), image("pr", "pr-12"), image("main", "main"), image("fresh", age=DAY / 2))

    assert sorted((d.candidate.digest, d.rule) for d in result.deletions) == [("loose", "untagged"), ("pr", "pr")]


def test_repository_globs_match_paths_inside_the_registry() -> None:
    policy = "rules: [{name: web, action: expire, repositories: ['web/*'], pushed-before: 1d}]"

    assert deleted(plan(policy, image("w"), image("x", repository="tools/x"))) == ["w"]


def test_pulled_before_counts_a_never_pulled_image_from_its_push() -> None:
    policy = "protect-pulled-within: 0s\nrules: [{name: stale, action: expire, pulled-before: 14d}]"

    result = plan(
        policy,
        image("stale", pulled=20 * DAY),
        image("used", pulled=3 * DAY),
        image("never-old"),
        image("never-fresh", age=2 * DAY),
    )

    assert sorted(deleted(result)) == ["never-old", "stale"]


def test_pushed_and_pulled_within_select_recent_ones() -> None:
    policy = (
        "rules: [{name: keep-recent, action: keep, pulled-within: 10d}, {name: all, action: expire, pushed-before: 0s}]"
    )

    assert deleted(
        plan("protect-pulled-within: 0s\n" + policy, image("a", pulled=5 * DAY), image("b", pulled=15 * DAY))
    ) == ["b"]


def test_an_image_pulled_within_the_protection_window_is_never_expired() -> None:
    result = plan(EXPIRE_OLD, image("running", pulled=2 * DAY), image("idle", pulled=9 * DAY))

    assert deleted(result) == ["idle"]
    assert "pulled 2d ago, within the 7d protection window" in result.kept[0].reason


def test_production_keeps_immutable_tags_unless_the_rule_includes_them() -> None:
    included = "rules: [{name: purge, action: expire, pushed-before: 30d, include-immutable: true}]"

    kept = plan(EXPIRE_OLD, image("release", "v1.0.0"), image("hotfix", "hotfix-1"), production=True)
    purged = plan(included, image("release", "v1.0.0"), production=True)
    elsewhere = plan(EXPIRE_OLD, image("release", "v1.0.0"), production=False)

    assert deleted(kept) == ["hotfix"]
    assert "immutable tag v1.0.0 in a production registry: add include-immutable: true" in kept.kept[0].reason
    assert deleted(purged) == ["release"] and deleted(elsewhere) == ["release"]


def test_an_index_takes_its_untagged_images_with_it_after_itself() -> None:
    amd, arm = image("amd", blobs={"l1": 10}), image("arm", blobs={"l2": 20})
    index = image("index", "multi", children=("amd", "arm"), blobs={})

    result = plan("rules: [{name: old, action: expire, tag-state: tagged, pushed-before: 30d}]", amd, arm, index)

    assert deleted(result) == ["index", "amd", "arm"]
    assert result.deletions[1].rule == "old" and result.deletions[1].reason == "with its index index"
    assert result.freed_bytes() == 30


def test_an_index_child_that_is_tagged_or_pulled_stays() -> None:
    index = image("index", "multi", children=("tagged", "pulled"), blobs={})

    result = plan(EXPIRE_OLD, image("tagged", "amd-only"), image("pulled", pulled=DAY), index)

    assert deleted(result) == ["index"]
    assert sorted(k.candidate.digest for k in result.kept) == ["pulled", "tagged"]


def test_an_index_child_is_never_expired_before_its_index() -> None:
    index = image("index", "multi", children=("child",), blobs={}, pulled=DAY)  # the index is running

    result = plan(
        "rules: [{name: loose, action: expire, tag-state: untagged, pushed-before: 1d}]", image("child"), index
    )

    assert deleted(result) == []


def test_a_referrer_goes_with_its_subject_and_an_orphan_referrer_is_judged_alone() -> None:
    subject = image("subject", "build-1")
    signature = image("sig", subject="subject")
    orphan = image("orphan-sig", subject="gone")

    result = plan(EXPIRE_OLD, subject, signature, orphan)

    assert deleted(result) == ["orphan-sig", "subject", "sig"]
    assert result.deletions[-1].reason == "with its subject subject"


def test_freed_bytes_counts_shared_blobs_once_and_only_when_nothing_keeps_them() -> None:
    result = plan(
        EXPIRE_OLD,
        image("a", blobs={"base": 1000, "a": 1}),
        image("b", blobs={"base": 1000, "b": 2}),
        image("c", age=DAY, blobs={"shared-with-c": 5, "c": 3}),
        image("d", blobs={"shared-with-c": 5, "d": 4}),
    )

    assert sorted(deleted(result)) == ["a", "b", "d"]
    assert result.freed_bytes() == 1000 + 1 + 2 + 4
    assert result.freed_bytes(in_use_elsewhere={"base"}) == 1 + 2 + 4


def test_repositories_are_planned_apart_and_listed_by_name() -> None:
    # The same digests in two repositories, given interleaved: each repository's index keeps or takes its own
    # images, and deletions come repository by repository, parents first.
    policy = "rules: [{name: old, action: expire, tag-state: tagged, pushed-before: 30d}]"
    candidates = [
        image(digest, *tags, repository=repository, children=children, pulled=pulled)
        for digest, tags, children in (("amd", (), ()), ("index", ("multi",), ("amd",)))
        for repository, pulled in (("web/b", None), ("web/a", None), ("web/c", DAY))
    ]

    result = plan(policy, *candidates)

    assert [(d.candidate.repository, d.candidate.digest) for d in result.deletions] == [
        ("web/a", "index"), ("web/a", "amd"), ("web/b", "index"), ("web/b", "amd"),
    ]  # fmt: skip
    assert [(k.candidate.repository, k.candidate.digest) for k in result.kept] == [("web/c", "index")]
    assert {(s.repository, s.digest) for s in result.survivors} == {("web/c", "index"), ("web/c", "amd")}


def test_a_hundred_thousand_manifests_are_planned() -> None:
    images = [
        image(f"m{n}", *((f"v1.{n}",) if n % 3 else ()), age=(n % 90) * DAY, repository=f"repo{n % 100}")
        for n in range(100_000)
    ]
    policy = parse_retention(
        "rules: [{name: keep, action: keep, tags: ['v*'], most-recent: 10},"
        " {name: old, action: expire, tag-state: tagged, pushed-before: 30d},"
        " {name: untagged, action: expire, tag-state: untagged, pushed-before: 1d}]"
    )

    result = plan(policy, *images)

    assert 50_000 < len(result.deletions) < 100_000
