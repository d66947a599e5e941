"""A duration without a unit is refused wherever a user types one, with the units to give; 0 stays zero."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import RegistryServer
from tests.http.manage_support import live_server
from tests.unit.cli.test_manage_commands import ok, shipshape


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with live_server(tmp_path_factory.mktemp("durations-server")) as running:
        yield running


def test_a_bare_expires_in_is_refused_with_the_units_to_give(server: RegistryServer) -> None:
    ok(shipshape(server, "registry", "create", "dur-dev", "--environment", "development"))
    create = ["credential", "create", "ci", "--registry", "dur-dev", "--kind", "ci", "--actions", "pull"]
    bare = shipshape(server, *create, "--expires-in", "30")
    assert bare.exit_code == 1 and "30: give a unit, e.g. 30d, 30h, 30m or 30s" in bare.stderr
    assert "Traceback" not in bare.stderr
    ok(shipshape(server, *create, "--expires-in", "30d"))


def test_a_bare_grace_is_refused_but_zero_ends_the_old_secret_at_once(server: RegistryServer) -> None:
    ok(shipshape(server, "registry", "create", "dur-stg", "--environment", "development"))
    create = ["credential", "create", "ci", "--registry", "dur-stg", "--kind", "ci", "--actions", "pull"]
    ok(shipshape(server, *create))
    bare = shipshape(server, "credential", "rotate", "dur-stg+ci", "--grace", "12")
    assert bare.exit_code == 1 and "12: give a unit" in bare.stderr
    ok(shipshape(server, "credential", "rotate", "dur-stg+ci", "--grace", "0"))
    gc = shipshape(server, "gc", "run", "--dry-run", "--grace", "5")
    assert gc.exit_code == 1 and "5: give a unit" in gc.stderr
