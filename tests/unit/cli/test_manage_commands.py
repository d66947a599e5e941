"""The management commands, run as a user would (typer's runner) against a real `shipshape serve` process."""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from shipshape.cli.main import app
from shipshape.domain.secrets import SCANNER_PATTERN, is_well_formed
from tests.e2e.support import RegistryServer
from tests.http.manage_support import ADMIN, ADMIN_PASSWORD, PASSWORD, live_server

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with live_server(tmp_path_factory.mktemp("cli-server")) as running:
        yield running


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    return tmp_path / "config"


def shipshape(
    server: RegistryServer | str | None,
    *args: str,
    login: tuple[str, str] | None = (ADMIN, ADMIN_PASSWORD),
    config_home: Path | None = None,
    stdin: str | None = None,
) -> Result:
    env: dict[str, str | None] = {
        "SHIPSHAPE_SERVER": server.url if isinstance(server, RegistryServer) else server,
        "SHIPSHAPE_USERNAME": login[0] if login else None,
        "SHIPSHAPE_PASSWORD": login[1] if login else None,
        "XDG_CONFIG_HOME": str(config_home) if config_home else "/nonexistent-shipshape-config",
    }
    return runner.invoke(app, list(args), env=env, input=stdin)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def data(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def logs_in(server: RegistryServer, username: str, secret: str) -> bool:
    return httpx.get(server.url + "/v2/", auth=(username, secret), timeout=30).status_code == 200


def test_account_registry_member_round_trip(server: RegistryServer) -> None:
    account = data(shipshape(server, "account", "create", "acme", "--quota", "20GiB", "--json"))
    assert account["name"] == "acme" and account["quota_bytes"] == 20 * 1024**3
    assert "acme" in [a["name"] for a in data(shipshape(server, "account", "list", "--json"))]
    table = ok(shipshape(server, "account", "list")).stdout
    assert "acme" in table and "20GiB" in table

    create = ["registry", "create", "acme-dev", "--environment", "development", "--account", "acme", "--json"]
    registry = data(shipshape(server, *create))
    policy = registry.pop("policy")
    assert registry == {"name": "acme-dev", "account": "acme", "environment": "development", "public": False}
    assert policy["tag_mutability"] == "mutable" and policy["manifest_creators"] == "any"
    ok(shipshape(server, "registry", "create", "acme-pub", "--environment", "staging", "--account", "acme", "--public"))
    assert data(shipshape(server, "registry", "show", "acme-pub", "--json"))["public"] is True
    listed = data(shipshape(server, "registry", "list", "--account", "acme", "--json"))
    assert [r["name"] for r in listed] == ["acme-dev", "acme-pub"]
    assert "acme-pub" in ok(shipshape(server, "registry", "list")).stdout

    member = data(
        shipshape(
            server, "member", "add", "alice", "--account", "acme", "--role", "admin", "--password-stdin", "--json",
            stdin=PASSWORD + "\n",
        )
    )  # fmt: skip
    assert member == {"username": "alice", "account": "acme", "role": "admin"}
    assert data(shipshape(server, "member", "list", "--account", "acme", "--json")) == [member]
    # alice, logged in with her own password, sees her account's registries
    mine = data(shipshape(server, "registry", "list", "--json", login=("alice", PASSWORD)))
    assert {r["name"] for r in mine} == {"acme-dev", "acme-pub"}

    ok(shipshape(server, "registry", "delete", "acme-pub"))
    assert shipshape(server, "registry", "show", "acme-pub").exit_code == 1
    ok(shipshape(server, "member", "remove", "alice"))
    assert data(shipshape(server, "member", "list", "--account", "acme", "--json")) == []


def test_credential_lifecycle(server: RegistryServer) -> None:
    ok(shipshape(server, "registry", "create", "cred-dev", "--environment", "development"))
    ok(shipshape(server, "registry", "create", "cred-prod", "--environment", "production"))
    created = data(
        shipshape(
            server, "credential", "create", "ci", "--registry", "cred-dev", "--registry", "cred-prod",
            "--repositories", "web/*", "--kind", "ci", "--actions", "pull,push", "--expires-in", "30d", "--json",
        )
    )  # fmt: skip
    username, first = created["username"], created["secret"]
    assert username == "cred-dev+ci" and is_well_formed(first) and set(created) == {"username", "secret", "expires_at"}
    assert logs_in(server, username, first)

    listed = shipshape(server, "credential", "list", "--json")
    [credential] = [c for c in data(listed) if c["username"] == username]
    assert [s["registry"] for s in credential["scopes"]] == ["cred-dev", "cred-prod"]
    assert credential["scopes"][0] == {"registry": "cred-dev", "repositories": "web/*", "actions": ["pull", "push"]}
    assert not SCANNER_PATTERN.search(listed.stdout)
    table = ok(shipshape(server, "credential", "list")).stdout
    assert username in table and "active" in table and not SCANNER_PATTERN.search(table)

    rotated = data(shipshape(server, "credential", "rotate", username, "--grace", "0", "--json"))["secret"]
    assert rotated != first and logs_in(server, username, rotated) and not logs_in(server, username, first)
    graced = data(shipshape(server, "credential", "rotate", username, "--json"))["secret"]  # default grace 24h
    assert logs_in(server, username, graced) and logs_in(server, username, rotated)
    reset = data(shipshape(server, "credential", "reset", username, "--json"))["secret"]
    assert logs_in(server, username, reset)
    assert not logs_in(server, username, graced) and not logs_in(server, username, rotated)
    ok(shipshape(server, "credential", "revoke", username))
    assert not logs_in(server, username, reset)
    assert data(shipshape(server, "credential", "show", username, "--json"))["state"] == "revoked"

    events = data(shipshape(server, "audit", "--registry", "cred-dev", "--since", "1h", "--json"))
    actions = [e["action"] for e in events]
    for action in ("credential.create", "credential.rotate", "credential.reset", "credential.revoke"):
        assert action in actions
    text = ok(shipshape(server, "audit", "--registry", "cred-dev")).stdout
    assert "credential.revoke" in text and not SCANNER_PATTERN.search(text)


def test_credential_create_prints_username_and_secret_lines(server: RegistryServer) -> None:
    ok(shipshape(server, "registry", "create", "plain-dev", "--environment", "development"))
    result = ok(shipshape(server, "credential", "create", "puller", "--registry", "plain-dev", "--kind", "pull"))
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert fields["username"] == "plain-dev+puller" and is_well_formed(fields["secret"])
    assert "shown only this once" in result.stderr
    rotated = ok(shipshape(server, "credential", "rotate", "plain-dev+puller", "--grace", "1h")).stdout
    assert re.search(r"^secret: shps_\w+$", rotated, re.MULTILINE)


def test_pull_secret_yaml_and_reuse(server: RegistryServer) -> None:
    ok(shipshape(server, "registry", "create", "k8s-prod", "--environment", "production"))
    result = ok(shipshape(server, "k8s", "pull-secret", "k8s-prod", "--namespace", "web"))
    yaml = result.stdout
    assert "kind: Secret" in yaml and "kind: ServiceAccount" in yaml and "- name: k8s-prod-pull" in yaml
    assert "k8s-prod+k8s-web" in result.stderr
    encoded = re.search(r"\.dockerconfigjson: (\S+)", yaml)
    assert encoded
    auths = json.loads(base64.b64decode(encoded.group(1)))["auths"]
    assert list(auths) == [server.address]
    username, secret = auths[server.address]["username"], auths[server.address]["password"]
    assert logs_in(server, username, secret)

    reused = data(
        shipshape(
            server, "k8s", "pull-secret", "k8s-prod", "--namespace", "batch", "--credential", username,
            "--secret-name", "regcred", "--service-account", "runner", "--json", stdin=secret + "\n",
        )
    )  # fmt: skip
    assert reused["created"] is False and reused["username"] == username and reused["secret_name"] == "regcred"
    assert "  name: runner\n" in reused["yaml"]


def test_viewer_cannot_create_credentials(server: RegistryServer) -> None:
    ok(shipshape(server, "account", "create", "viewers"))
    ok(shipshape(server, "registry", "create", "viewers-dev", "--environment", "development", "--account", "viewers"))
    ok(
        shipshape(
            server, "member", "add", "victor", "--account", "viewers", "--role", "viewer", "--password-stdin",
            stdin=PASSWORD,
        )
    )  # fmt: skip
    result = shipshape(
        server, "credential", "create", "mine", "--registry", "viewers-dev", "--kind", "pull",
        login=("victor", PASSWORD),
    )  # fmt: skip
    assert result.exit_code == 1 and result.stdout == ""
    assert "victor is a viewer" in result.stderr and "owner or admin" in result.stderr


def test_errors_print_the_servers_message_and_exit_non_zero(server: RegistryServer) -> None:
    wrong = shipshape(server, "account", "list", login=(ADMIN, "not-the-right-password"))
    assert wrong.exit_code == 1 and "invalid username" in wrong.stderr
    anonymous = shipshape(server, "account", "list", login=None)
    assert anonymous.exit_code == 1 and "shipshape login" in anonymous.stderr
    weak = shipshape(server, "member", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short")
    assert weak.exit_code == 1 and "too short" in weak.stderr
    bad = shipshape(server, "credential", "create", "x", "--registry", "nope", "--kind", "ci", "--actions", "fly")
    assert bad.exit_code == 2 and "--actions" in bad.stderr
    duration = shipshape(server, "audit", "--since", "yesterday")
    assert duration.exit_code == 1 and "since" in duration.stderr
    unreachable = shipshape("http://127.0.0.1:9", "account", "list")
    assert unreachable.exit_code == 1 and "cannot reach http://127.0.0.1:9" in unreachable.stderr


def test_login_stores_the_password_for_that_server_only(server: RegistryServer, config_home: Path) -> None:
    result = ok(
        shipshape(
            None, "--server", server.url, "login", "--username", ADMIN, "--password-stdin",
            login=None, config_home=config_home, stdin=ADMIN_PASSWORD + "\n",
        )
    )  # fmt: skip
    assert "Logged in" in result.stdout
    stored = config_home / "shipshape" / "login.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text()) == {"server": server.url, "username": ADMIN, "password": ADMIN_PASSWORD}
    # The stored server and login are used when none is given...
    accounts = data(shipshape(None, "account", "list", "--json", login=None, config_home=config_home))
    assert "default" in [a["name"] for a in accounts]
    # ...and the password is never sent to another server.
    elsewhere = shipshape(f"http://localhost:{server.port}", "account", "list", login=None, config_home=config_home)
    assert elsewhere.exit_code == 1 and "shipshape login" in elsewhere.stderr
    ok(shipshape(None, "logout", login=None, config_home=config_home))
    assert not stored.exists()


def test_login_with_a_wrong_password_stores_nothing(server: RegistryServer, config_home: Path) -> None:
    result = shipshape(
        server, "login", "--username", ADMIN, "--password-stdin", login=None, config_home=config_home,
        stdin="wrong-password-here",
    )  # fmt: skip
    assert result.exit_code == 1 and not (config_home / "shipshape" / "login.json").exists()


def test_server_option_after_the_command(server: RegistryServer) -> None:
    result = shipshape("http://127.0.0.1:9", "account", "list", "--server", server.url, "--json")
    assert "default" in [a["name"] for a in data(result)]
