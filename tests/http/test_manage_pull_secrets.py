"""`/api/v1/pull-secrets`: Kubernetes pull secrets whose `.dockerconfigjson` matches kubectl's, byte for byte."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, running_api

_DOCKERCONFIG = re.compile(r"^  \.dockerconfigjson: (\S+)$", re.MULTILINE)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        await api.registry("acme-prod", account="acme", environment="production")
        yield api


def docker_config(yaml: str) -> bytes:
    match = _DOCKERCONFIG.search(yaml)
    assert match, yaml
    return base64.b64decode(match.group(1))


def kubectl_docker_config(server: str, username: str, password: str) -> bytes:
    """What `kubectl create secret docker-registry --dry-run=client` puts in `.dockerconfigjson`."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl is not installed (Debian: apt-get install kubernetes-client)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    output = subprocess.run(
        [kubectl, "create", "secret", "docker-registry", "x", f"--docker-server={server}",
         f"--docker-username={username}", f"--docker-password={password}", "--dry-run=client",
         "-o", "jsonpath={.data.\\.dockerconfigjson}"],
        env={**os.environ, "KUBECONFIG": "/dev/null"}, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return base64.b64decode(output)


async def test_new_pull_secret_creates_a_pull_only_credential(api: ManageApi) -> None:
    answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web"})
    assert answer.status == 201, answer.body
    body = answer.body
    assert (
        body["created"] is True and body["username"] == "acme-prod+k8s-web" and body["secret_name"] == "acme-prod-pull"
    )
    host = api.client.server.host + ":" + str(api.client.server.port)
    assert body["server"] == host
    config = json.loads(docker_config(body["yaml"]))
    entry = config["auths"][host]
    assert entry["username"] == "acme-prod+k8s-web"
    assert base64.b64decode(entry["auth"]).decode() == f"{entry['username']}:{entry['password']}"
    assert (await api.logs_in(entry["username"], entry["password"])).status == 200
    credential = (await api.get("/credentials/acme-prod+k8s-web")).body
    assert credential["kind"] == "pull" and credential["scopes"][0]["actions"] == ["pull"]
    assert await api.push_image("acme-prod/web", "v1", (entry["username"], entry["password"])) in (401, 403)
    yaml = body["yaml"]
    assert "kind: Secret\n" in yaml and "type: kubernetes.io/dockerconfigjson\n" in yaml
    assert "  namespace: web\n" in yaml
    service_account = "kind: ServiceAccount\nmetadata:\n  name: default\n  namespace: web\n"
    assert service_account + "imagePullSecrets:\n- name: acme-prod-pull\n" in yaml


async def test_docker_config_equals_kubectls(api: ManageApi) -> None:
    answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web"})
    ours = docker_config(answer.body["yaml"])
    entry = json.loads(ours)["auths"][answer.body["server"]]
    assert ours == kubectl_docker_config(answer.body["server"], entry["username"], entry["password"])


async def test_public_url_names_the_server_key(tmp_path: Path) -> None:
    async with running_api(tmp_path, public_url="https://registry.example.com:8443/") as api:
        await api.registry("ops")
        answer = await api.post("/pull-secrets", {"registry": "ops", "namespace": "web"})
        assert answer.body["server"] == "registry.example.com:8443"
        assert list(json.loads(docker_config(answer.body["yaml"]))["auths"]) == ["registry.example.com:8443"]


async def test_names_and_service_account_can_be_chosen(api: ManageApi) -> None:
    body = {"registry": "acme-prod", "namespace": "shop", "secret_name": "regcred", "service_account": "builder"}
    answer = await api.post("/pull-secrets", body)
    yaml = answer.body["yaml"]
    assert (
        "  name: regcred\n  namespace: shop\n" in yaml and "  name: builder\n" in yaml and "- name: regcred\n" in yaml
    )


async def test_reusing_a_pull_only_credential_with_its_secret(api: ManageApi) -> None:
    username, secret = await api.credential("cluster", "acme-prod", kind="pull")
    body = {"registry": "acme-prod", "namespace": "web", "credential": username, "secret": secret}
    answer = await api.post("/pull-secrets", body)
    assert answer.status == 200 and answer.body["created"] is False and answer.body["username"] == username
    entry = json.loads(docker_config(answer.body["yaml"]))["auths"][answer.body["server"]]
    assert (entry["username"], entry["password"]) == (username, secret)
    names = [c["username"] for c in (await api.get("/credentials?account=acme")).body["credentials"]]
    assert names == [username]


async def test_reuse_needs_the_right_secret_of_a_pull_only_credential(api: ManageApi) -> None:
    username, secret = await api.credential("cluster", "acme-prod", kind="pull")
    _, other = await api.credential("other", "acme-prod", kind="pull")
    ci, ci_secret = await api.credential("ci", "acme-prod", kind="ci")
    cases = [
        ({"credential": username}, "needs its secret"),
        ({"credential": username, "secret": other}, "does not log in"),
        ({"credential": ci, "secret": ci_secret}, "not pull-only"),
    ]
    for extra, words in cases:
        answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web", **extra})
        assert answer.status == 422 and words in answer.message, answer.body
        assert secret not in json.dumps(answer.body)


async def test_viewers_cannot_make_pull_secrets(api: ManageApi) -> None:
    viewer = await api.member("vera", "viewer", account="acme")
    answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web"}, as_=viewer)
    assert answer.status == 403


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"namespace": "Web_Prod"}, "namespace"), ({"secret_name": "-bad"}, "secret_name"),
     ({"service_account": "a b"}, "service_account"), ({"registry": "nope"}, "")],
)  # fmt: skip
async def test_bad_pull_secret_requests_are_refused(api: ManageApi, extra: dict[str, str], field: str) -> None:
    answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web", **extra})
    assert answer.status in (404, 422) and answer.message.startswith(field), answer.body


async def test_a_second_pull_secret_for_the_same_namespace_is_409(api: ManageApi) -> None:
    await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web"})
    answer = await api.post("/pull-secrets", {"registry": "acme-prod", "namespace": "web"})
    assert answer.status == 409 and "--credential acme-prod+k8s-web" in answer.message
