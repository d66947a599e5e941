"""`shipshape registry set` and `registry show` against a real server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import RegistryServer
from tests.http.manage_support import live_server
from tests.unit.cli.test_manage_commands import data, ok, shipshape


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with live_server(tmp_path_factory.mktemp("policy-cli")) as running:
        ok(shipshape(running, "registry", "create", "web-prod", "--environment", "production"))
        yield running


def test_show_prints_the_policy(server: RegistryServer) -> None:
    shown = ok(shipshape(server, "registry", "show", "web-prod")).stdout
    assert "tag mutability: immutable" in shown
    assert "denied tags: latest, dev, test, stable" in shown
    assert "allowed tags: semver, date, commit" in shown
    assert "manifest creators: ci-or-promotion" in shown
    assert "promotion sources: env:staging" in shown
    assert "require signature: no" in shown


def test_set_changes_only_the_given_fields_and_lists_can_be_cleared(server: RegistryServer) -> None:
    changes = ["--require-signature", "--mutable-tags", "hotfix-*,dev-*", "--denied-tags", ""]
    policy = data(shipshape(server, "registry", "set", "web-prod", *changes, "--json"))["policy"]
    assert policy["require_signature"] is True
    assert policy["mutable_tags"] == ["hotfix-*", "dev-*"]
    assert policy["denied_tags"] == []
    assert policy["allowed_tags"] == ["semver", "date", "commit"]  # untouched
    reset = data(shipshape(server, "registry", "set", "web-prod", "--preset", "production", "--json"))["policy"]
    assert reset["denied_tags"] == ["latest", "dev", "test", "stable"] and reset["require_signature"] is False


def test_bad_values_are_refused_with_the_reason(server: RegistryServer) -> None:
    result = shipshape(server, "registry", "set", "web-prod", "--allowed-tags", "calver")
    assert result.exit_code != 0
    assert "neither a named pattern (semver, date, commit)" in result.stderr
    nothing = shipshape(server, "registry", "set", "web-prod")
    assert nothing.exit_code != 0 and "nothing to change" in nothing.stderr
