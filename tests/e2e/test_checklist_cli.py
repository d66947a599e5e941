"""`shipshape checklist` as a CI gate, with the real CLI against a real `shipshape serve --auth`: a production
registry that is not ready fails its items with exit code 1 (with --json too); running the fix commands it prints
(registry settings, retention, a rotation, a Kubernetes pull secret that skopeo then pulls with, per-environment
credentials) makes every item pass with exit code 0; a well-set-up account passes as a whole."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from .auth_support import (
    Credential,
    ShipshapeCli,
    basic_auth,
    failed,
    output,
    parse_pull_secret_yaml,
    strong_password,
)
from .policy_support import Acme, acme_world
from .support import OciLayoutImage, Skopeo, require_tool

pytestmark = pytest.mark.e2e

ITEMS = [
    "immutable-tags",
    "credential-rotation",
    "ci-only-production-pushes",
    "pull-secret",
    "environment-separation",
    "retention-policy",
]


@pytest.fixture
def acme(request: pytest.FixtureRequest) -> Iterator[Acme]:
    require_tool("skopeo")
    with acme_world("ssk-") as acme:
        yield acme
        if failed(request):
            print(f"server logs:\n{acme.world.server.log_tail()}")


def checklist(cli: ShipshapeCli, *args: str) -> tuple[int, dict[str, Any]]:
    """`shipshape checklist ARGS --json`: its exit code and report."""
    result = cli.run("checklist", *args, "--json", check=False)
    assert result.returncode in (0, 1), output(result)
    return result.returncode, json.loads(result.stdout)


def failing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for registry in report["registries"] for item in registry["items"] if not item["passed"]}


def pull_with(skopeo: Skopeo, acme: Acme, image: str, login: Credential, into: Path) -> None:
    skopeo.copy(f"docker://{acme.address}/{image}", f"oci:{into}:pulled", "--src-creds", login.creds)


def run_fix(cli: ShipshapeCli, fix: str, pulled: Callable[[Credential], None]) -> None:
    """Run each command of a fix as printed; the YAML a `k8s pull-secret` prints for `kubectl apply` gives the
    login a cluster would pull with, and `pulled` pulls with it."""
    for command in fix.split(" && "):
        shipshape_part, piped, kubectl = command.partition(" | ")
        args = shlex.split(shipshape_part)
        assert args[0] == "shipshape", command
        result = cli.run(*args[1:])
        if piped:
            assert kubectl == "kubectl apply -f -", command
            secret = parse_pull_secret_yaml(result.stdout.decode())
            assert secret.image_pull_secrets == [secret.secret_name]
            pulled(secret.login(next(iter(json.loads(secret.docker_config_json)["auths"]))))


def test_an_unready_production_registry_fails_and_the_printed_fixes_make_it_pass(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    admin = acme.world.admin
    skopeo.copy(make_oci_image(files={"app": b"release"}).ref, acme.ref("acme-prod/web/api:v1.0.0"),
                "--dest-creds", acme.ci.creds)  # fmt: skip

    # Fresh: the presets hold, but no pull secret, and acme's one ci credential spans every environment.
    code, fresh = checklist(admin, "acme-prod")
    table = admin.run("checklist", "acme-prod", check=False)
    assert code == 1 and fresh["passed"] is False
    [registry] = fresh["registries"]
    assert (registry["registry"], registry["environment"]) == ("acme-prod", "production")
    assert [item["id"] for item in registry["items"]] == ITEMS
    assert set(failing(fresh)) == {"pull-secret", "environment-separation"}
    assert table.returncode == 1
    text = table.stdout.decode()
    assert "acme-prod (production, account acme): FAIL, 2 of 6 items failed" in text
    assert "FAIL" in text and "PASS" in text and "To fix:" in text
    assert "  shipshape k8s pull-secret acme-prod --namespace default | kubectl apply -f -" in text
    assert "  shipshape credential revoke acme-dev+ci" in text

    # Weakened: mutable tags, pushes from anyone, no retention rules, and a credential that expired after use.
    admin.run("registry", "set", "acme-prod", "--tag-mutability", "mutable", "--manifest-creators", "any")
    admin.run("retention", "clear", "acme-prod")
    issued = admin.json("credential", "create", "old", "--registry", "acme-prod", "--kind", "pull",
                        "--expires-in", "4s")  # fmt: skip
    old = Credential(issued["username"], issued["secret"])
    assert requests.get(f"{acme.url}/v2/", headers=basic_auth(old), timeout=30).status_code == 200
    expires = datetime.fromisoformat(issued["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 1.0)

    code, weak = checklist(admin, "acme-prod")
    assert code == 1
    fixes = failing(weak)
    assert list(fixes) == ITEMS  # every item fails now
    assert fixes["credential-rotation"]["fix"] == "shipshape credential rotate acme-prod+old"
    assert "acme-prod+old expired" in fixes["credential-rotation"]["evidence"]
    assert fixes["retention-policy"]["fix"] == "shipshape retention set acme-prod --preset"

    pulls: list[str] = []

    def pulled(login: Credential) -> None:
        pull_with(skopeo, acme, "acme-prod/web/api:v1.0.0", login, e2e_tmp / f"pulled{len(pulls)}")
        pulls.append(login.username)

    for item in fixes.values():
        run_fix(admin, item["fix"], pulled)

    assert pulls == ["acme-prod+k8s-default"]
    code, fixed = checklist(admin, "acme-prod")
    assert failing(fixed) == {} and fixed["passed"] is True and code == 0
    evidence = {item["id"]: item["evidence"] for item in fixed["registries"][0]["items"]}
    assert "acme-prod+k8s-default" in evidence["pull-secret"]
    assert "no credential reaches production and another environment" in evidence["environment-separation"]
    passed = admin.run("checklist", "acme-prod")
    assert "acme-prod (production, account acme): PASS" in passed.stdout.decode()
    assert "Every item passed (1 registry)." in passed.stdout.decode()
    # What the fixes left: per-environment CI credentials, the old one revoked.
    states = {c["username"]: c["state"] for c in admin.json("credential", "list", "--account", "acme")}
    assert states["acme-dev+ci"] == "revoked"
    assert states["acme-prod+ci"] == "active" and states["acme-dev+ci-dev"] == "active"


def test_a_well_set_up_account_passes_as_a_whole_with_exit_code_0(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    admin = acme.world.admin
    admin.run("account", "create", "tidy")
    for name, environment in (("tidy-dev", "development"), ("tidy-stage", "staging"), ("tidy-prod", "production")):
        acme.world.registry(name, environment, "--account", "tidy")
        ci = admin.credential("ci", name, "ci")
        if environment == "development":
            continue
        image = f"{name}/shop:v2.1.0"
        skopeo.copy(make_oci_image(files={"shop": name.encode()}).ref, acme.ref(image), "--dest-creds", ci.creds)
        yaml = admin.run("k8s", "pull-secret", name, "--namespace", "shop").stdout.decode()
        secret = parse_pull_secret_yaml(yaml)
        pull_with(skopeo, acme, image, secret.login(acme.address), e2e_tmp / name)
    password = strong_password()
    admin.run("member", "add", "tina", "--account", "tidy", "--role", "viewer", "--password-stdin", stdin=password)
    tina = acme.world.cli("tina", "tina", password)

    code, report = checklist(tina)
    table = tina.run("checklist")

    assert code == 0 and report["passed"] is True, failing(report)
    assert [r["registry"] for r in report["registries"]] == ["tidy-dev", "tidy-prod", "tidy-stage"]
    assert all(len(r["items"]) == len(ITEMS) and r["passed"] for r in report["registries"])
    text = table.stdout.decode()
    assert table.returncode == 0 and "To fix:" not in text and "FAIL" not in text
    assert "N/A" in text  # development is not held to production's items
    assert "Every item passed (3 registries)." in text
    # The same account seen by the server administrator; acme beside it is not ready, so all of it fails.
    assert checklist(admin, "--account", "tidy")[0] == 0
    code, everything = checklist(admin)
    assert code == 1 and {r["account"] for r in everything["registries"]} == {"acme", "tidy"}
