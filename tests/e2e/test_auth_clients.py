"""Real clients log in to a server with authentication on: podman with a `ci` credential, skopeo through the token
flow, containerd with the login of a generated Kubernetes pull secret (which must equal kubectl's)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .auth_support import (
    AuthWorld,
    LoginPodman,
    auth_world,
    failed,
    output,
    parse_pull_secret_yaml,
    requests_logged,
    wait_for_request,
)
from .support import Containerd, OciLayoutImage, Skopeo, chain_ids, require_tool, run, write_hello_context

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world() -> Iterator[AuthWorld]:
    with auth_world() as world:
        yield world


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, world: AuthWorld) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{world.server.log_tail()}")


def test_podman_logs_in_with_a_ci_credential_then_pushes_and_pulls_the_same_digest(
    world: AuthWorld, e2e_tmp: Path
) -> None:
    world.registry("podman-dev", "development")
    ci = world.admin.credential("ci", "podman-dev", "ci", "pull,push", expires_in="30d")
    assert ci.username == "podman-dev+ci"
    podman = LoginPodman(e2e_tmp / "pm")
    context = write_hello_context(e2e_tmp / "ctx")
    ref = f"{world.server.address}/podman-dev/app:v1"
    digest_file = e2e_tmp / "pushed.digest"
    podman.run("build", "--isolation", "chroot", "-t", ref, str(context))

    anonymous = podman.run("push", "--tls-verify=false", ref, check=False)
    assert anonymous.returncode != 0
    assert "authentication required" in output(anonymous).lower()

    login = podman.login(world.server.address, ci)
    assert "Login Succeeded" in output(login)
    assert world.server.address in json.loads(podman.authfile.read_text())["auths"]
    podman.run("push", "--tls-verify=false", "--digestfile", str(digest_file), ref)
    pushed = digest_file.read_text().strip()
    podman.run("rmi", ref)
    assert podman.run("image", "exists", ref, check=False).returncode != 0
    podman.run("pull", "--tls-verify=false", ref)

    pulled = podman.run("image", "inspect", "--format", "{{.Digest}}", ref).stdout.decode().strip()
    assert pushed.startswith("sha256:")
    assert pulled == pushed


def test_skopeo_with_creds_copies_inspects_and_lists_tags_through_the_token_flow(
    world: AuthWorld, e2e_tmp: Path, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    world.registry("skopeo-dev", "development")
    ci = world.admin.credential("ci", "skopeo-dev", "ci", "pull,push")
    skopeo = Skopeo(e2e_tmp / "sk")
    image = make_oci_image()
    repository = f"docker://{world.server.address}/skopeo-dev/app"
    digest_file = e2e_tmp / "pushed.digest"
    since = len(requests_logged(world.server))

    skopeo.copy(image.ref, f"{repository}:v1", "--dest-creds", ci.creds, "--digestfile", str(digest_file))
    skopeo.copy(image.ref, f"{repository}:v2", "--dest-creds", ci.creds)
    inspected = json.loads(skopeo.run("inspect", "--tls-verify=false", "--creds", ci.creds, f"{repository}:v1").stdout)
    tags = json.loads(skopeo.run("list-tags", "--tls-verify=false", "--creds", ci.creds, repository).stdout)["Tags"]

    assert digest_file.read_text().strip() == image.manifest_digest
    assert inspected["Digest"] == image.manifest_digest
    assert inspected["Layers"] == image.layer_digests
    assert tags == ["v1", "v2"]
    logged = wait_for_request(world.server, since, "GET", "/auth/token", 200)
    assert ("GET", "/v2/", 401) in logged, "skopeo should have been challenged first"
    assert ("PUT", "/v2/skopeo-dev/app/manifests/v1", 201) in logged
    # Nothing was stored: --creds is per command, so without it the same read is refused.
    assert json.loads(skopeo.authfile.read_text()) == {"auths": {}}
    anonymous = skopeo.inspect(f"{repository}:v1", check=False)
    assert anonymous.returncode != 0
    assert "authentication required" in output(anonymous).lower()


def test_containerd_pulls_with_the_login_of_the_generated_pull_secret(
    world: AuthWorld, containerd: Containerd, e2e_tmp: Path, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    world.registry("k8s-dev", "development")
    ci = world.admin.credential("ci", "k8s-dev", "ci", "pull,push")
    image = make_oci_image()
    Skopeo(e2e_tmp / "sk").copy(image.ref, f"docker://{world.server.address}/k8s-dev/app:v1", "--dest-creds", ci.creds)
    ref = f"{world.server.address}/k8s-dev/app:v1"

    generated = world.admin.run(
        "k8s", "pull-secret", "k8s-dev", "--namespace", "web", "--secret-name", "web-pull",
        "--service-account", "builder",
    )  # fmt: skip
    secret = parse_pull_secret_yaml(generated.stdout.decode())
    assert secret.secret_type == "kubernetes.io/dockerconfigjson"
    assert (secret.secret_name, secret.namespace) == ("web-pull", "web")
    assert (secret.service_account, secret.image_pull_secrets) == ("builder", ["web-pull"])
    assert list(json.loads(secret.docker_config_json)["auths"]) == [world.server.address]
    login = secret.login(world.server.address)
    assert login.username in generated.stderr.decode()  # "Created pull-only credential …"
    listed = {c["username"]: c for c in world.admin.json("credential", "list")}
    assert listed[login.username]["kind"] == "pull"
    assert [s["actions"] for s in listed[login.username]["scopes"]] == [["pull"]]

    assert containerd.ctr("images", "pull", "--plain-http", ref, check=False).returncode != 0  # anonymous
    containerd.ctr("images", "pull", "--plain-http", "--user", login.creds, ref)

    assert containerd.image_digests().get(ref) == image.manifest_digest
    assert {image.manifest_digest, image.config_digest, *image.layer_digests} <= containerd.content_digests()
    assert chain_ids(image.diff_ids)[-1] in containerd.snapshot_keys()
    assert {p.read_bytes() for p in containerd.snapshot_files("id")} == {image.files["id"]}


def test_pull_secret_dockerconfigjson_is_byte_for_byte_what_kubectl_writes(world: AuthWorld, e2e_tmp: Path) -> None:
    kubectl = require_tool("kubectl")
    world.registry("kube-dev", "development")
    generated = world.admin.run("k8s", "pull-secret", "kube-dev", "--namespace", "ci-runners").stdout.decode()
    ours = parse_pull_secret_yaml(generated)
    login = ours.login(world.server.address)
    home = e2e_tmp / "kube"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": "/dev/null"}

    reference = run(
        [kubectl, "create", "secret", "docker-registry", ours.secret_name, f"--docker-server={world.server.address}",
         f"--docker-username={login.username}", f"--docker-password={login.secret}", "--dry-run=client", "-o",
         "yaml"],
        env=env,
    )  # fmt: skip
    theirs = parse_pull_secret_yaml(reference.stdout.decode())

    assert ours.docker_config_json == theirs.docker_config_json
    assert (ours.secret_type, ours.secret_name) == (theirs.secret_type, theirs.secret_name)
    # Reusing that credential (its secret on stdin) gives the same document and creates nothing.
    reused = world.admin.run(
        "k8s", "pull-secret", "kube-dev", "--namespace", "ci-runners", "--credential", login.username,
        stdin=login.secret,
    )  # fmt: skip
    assert parse_pull_secret_yaml(reused.stdout.decode()).docker_config_json == theirs.docker_config_json
    assert "Created" not in reused.stderr.decode()
