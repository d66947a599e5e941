"""No secret leaks: after members log in and credentials are created, used, rotated, reset and revoked, none of the
passwords and secrets involved (right or wrong) is in the server's logs, in the audit log, or stored in clear."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from .auth_support import (
    ADMIN,
    AuthWorld,
    Credential,
    LoginPodman,
    auth_world,
    failed,
    output,
    parse_pull_secret_yaml,
    requests_logged,
    strong_password,
    v2_get,
)
from .support import Skopeo, build_umoci_image, require_tool

pytestmark = pytest.mark.e2e

REGISTRY = "leak-dev"
SECRET_PREFIX = "shps_"  # how every credential secret starts, so that secret scanners can find leaked ones


@dataclass
class Scenario:
    world: AuthWorld
    secrets: dict[str, str] = field(default_factory=dict)  # what it is -> the secret or password

    def keep(self, what: str, value: str) -> str:
        assert value and what not in self.secrets
        self.secrets[what] = value
        return value

    def keep_login(self, what: str, login: Credential) -> Credential:
        self.keep(what, login.secret)
        # As it travels in a Basic Authorization header, too.
        self.keep(f"{what} as Basic", base64.b64encode(login.creds.encode()).decode())
        return login


def _typo(secret: str) -> str:
    """The secret with one character changed (the checksum in a secret lets the server catch this early)."""
    last = secret[-1]
    return secret[:-1] + ("A" if last != "A" else "B")


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    for tool in ("skopeo", "podman", "umoci"):
        require_tool(tool)
    with auth_world() as world:
        yield _play(Scenario(world))


def _play(scenario: Scenario) -> Scenario:
    """Everything a team does with secrets in its first week, the mistakes included."""
    world = scenario.world
    server, admin = world.server, world.admin
    scenario.keep_login("admin password", Credential(ADMIN, world.admin_password))  # `shipshape login` used it
    skopeo = Skopeo(world.root / "sk")
    podman = LoginPodman(world.root / "pm")
    image = build_umoci_image(world.root / "image")
    ref = f"docker://{server.address}/{REGISTRY}/app:v1"

    # A mistyped admin password at `shipshape login`.
    wrong = world.cli("wrong-admin")
    wrong_password = scenario.keep("wrong admin password", world.admin_password + "x")
    assert wrong.run("login", "--username", ADMIN, "--password-stdin", stdin=wrong_password, check=False).returncode
    # A member who administers the account, working through the environment, changes her password.
    admin.run("account", "create", "leak")
    admin.run("registry", "create", REGISTRY, "--environment", "development", "--account", "leak")
    dana_first = scenario.keep("dana's first password", strong_password())
    admin.run("member", "add", "dana", "--account", "leak", "--role", "admin", "--password-stdin", stdin=dana_first)
    dana_second = scenario.keep("dana's second password", strong_password())
    world.cli("dana", "dana", dana_first).run("member", "password", "dana", "--password-stdin", stdin=dana_second)
    dana = world.cli("dana", "dana", dana_second)

    # A CI credential: created, used by skopeo (token flow) and podman, rotated, reset, mistyped, revoked.
    first = scenario.keep_login("ci secret", dana.credential("ci", REGISTRY, "ci", "pull,push", expires_in="30d"))
    skopeo.copy(image.ref, ref, "--dest-creds", first.creds)
    podman.login(server.address, first)
    second = scenario.keep_login("rotated ci secret", dana.new_secret("rotate", first.username))
    for login in (first, second):
        assert skopeo.run("inspect", "--tls-verify=false", "--creds", login.creds, ref).returncode == 0
    third = scenario.keep_login("reset ci secret", dana.new_secret("reset", first.username))
    for login in (first, second):
        assert skopeo.run("inspect", "--tls-verify=false", "--creds", login.creds, ref, check=False).returncode
    assert v2_get(server, "", third).status_code == 200
    typo = scenario.keep_login("mistyped ci secret", Credential(first.username, _typo(third.secret)))
    assert skopeo.run("inspect", "--tls-verify=false", "--creds", typo.creds, ref, check=False).returncode
    assert v2_get(server, "", typo).status_code == 401
    assert podman.login(server.address, typo, check=False).returncode
    dana.run("credential", "revoke", first.username)

    # A Kubernetes pull secret (a new pull-only credential), used by a client.
    yaml = dana.run("k8s", "pull-secret", REGISTRY, "--namespace", "shop").stdout.decode()
    pull = scenario.keep_login("pull secret", parse_pull_secret_yaml(yaml).login(server.address))
    scenario.keep("pull secret YAML data", yaml.split(".dockerconfigjson: ")[1].split()[0])
    assert skopeo.run("inspect", "--tls-verify=false", "--creds", pull.creds, ref).returncode == 0

    # A member's password at the registry itself (members may use /v2/ as well as the API).
    skopeo.run("inspect", "--tls-verify=false", "--creds", f"dana:{dana_second}", ref, check=False)
    scenario.keep("dana's password as Basic", base64.b64encode(f"dana:{dana_second}".encode()).decode())
    return scenario


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, scenario: Scenario) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{scenario.world.server.log_tail()}")


def leaked(scenario: Scenario, text: str) -> list[str]:
    return sorted(what for what, secret in scenario.secrets.items() if secret in text)


def test_no_secret_or_password_appears_in_any_server_log(scenario: Scenario) -> None:
    server = scenario.world.server
    log_files = sorted({*server.log_paths, *server.workdir.glob("*.log")})
    logged = requests_logged(server)

    # The logs did see the traffic that carried the secrets.
    assert ("GET", "/auth/token", 200) in logged and ("GET", "/auth/token", 401) in logged
    assert any(method == "POST" and path.endswith("/rotate") for method, path, _ in logged)
    for path in log_files:
        text = path.read_text(errors="replace")
        assert leaked(scenario, text) == [], f"secrets in {path}"
        assert SECRET_PREFIX not in text, f"something that looks like a credential secret in {path}"


def test_no_secret_or_password_appears_in_the_audit_log(scenario: Scenario) -> None:
    result = scenario.world.admin.run("audit", "--account", "leak", "--limit", "1000", "--json")
    everyone = scenario.world.admin.run("audit", "--limit", "1000", "--json")
    events = json.loads(result.stdout)

    # The audit log recorded what happened to the secrets (failed logins carry no account: only in the full log) ...
    actions = {(e["action"], e["result"]) for e in events}
    for expected in ("credential.create", "credential.rotate", "credential.reset", "credential.revoke"):
        assert any(action == expected for action, _ in actions), (expected, sorted(actions))
    failures = [e for e in json.loads(everyone.stdout) if (e["action"], e["result"]) == ("login", "failure")]
    assert {e["actor"] for e in failures} >= {ADMIN, "leak-dev+ci"}, failures
    # ... and never the secrets themselves.
    assert leaked(scenario, output(result)) == []
    assert leaked(scenario, output(everyone)) == []
    assert SECRET_PREFIX not in output(everyone)


def test_secrets_and_passwords_are_stored_only_as_hashes(scenario: Scenario) -> None:
    data_dir = scenario.world.server.data_dir
    stored = [p for p in data_dir.rglob("*") if p.is_file() and "blobs" not in p.relative_to(data_dir).parts]
    assert any(p.name.startswith("metadata.db") for p in stored), stored

    for path in stored:
        assert leaked(scenario, path.read_bytes().decode("latin-1")) == [], f"secrets in {path}"
