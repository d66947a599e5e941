"""Kubernetes pull secrets: `.dockerconfigjson` byte for byte as kubectl writes it, and valid object names."""

from __future__ import annotations

import base64

import pytest

from shipshape.domain.errors import NameInvalid
from shipshape.services import pull_secrets


def test_docker_config_matches_kubectl_output() -> None:
    # From `KUBECONFIG=/dev/null kubectl create secret docker-registry acme-prod-pull --docker-server=127.0.0.1:5000
    #   --docker-username=acme-prod+k8s --docker-password=shps_abc --dry-run=client -o yaml` (kubectl 1.32).
    kubectl = (
        "eyJhdXRocyI6eyIxMjcuMC4wLjE6NTAwMCI6eyJ1c2VybmFtZSI6ImFjbWUtcHJvZCtrOHMiLCJwYXNzd29yZCI6InNocHNfYWJjIiwiYXV0"
        "aCI6IllXTnRaUzF3Y205a0syczRjenB6YUhCelgyRmlZdz09In19fQ=="
    )
    ours = pull_secrets.docker_config_json("127.0.0.1:5000", "acme-prod+k8s", "shps_abc")
    assert base64.b64encode(ours).decode() == kubectl


def test_docker_config_escapes_like_go() -> None:
    # kubectl's bytes for username `a<b>&c` and password `p\u2028é\b\f\x01"\\` on server `h:1` (Go 1.22+ escaping).
    ours = pull_secrets.docker_config_json("h:1", "a<b>&c", 'p\u2028é\b\f\x01"\\')
    assert ours == (
        b'{"auths":{"h:1":{"username":"a\\u003cb\\u003e\\u0026c","password":"p\\u2028\xc3\xa9\\b\\f\\u0001\\"\\\\",'
        b'"auth":"YTxiPiZjOnDigKjDqQgMASJc"}}}'
    )


def test_manifests_hold_the_secret_and_the_service_account() -> None:
    secret = pull_secrets.PullSecret("web", "acme-prod-pull", "default", "reg.example.com", "acme-prod+k8s", "shps_x")
    yaml = pull_secrets.manifests(secret)
    encoded = base64.b64encode(pull_secrets.docker_config_json("reg.example.com", "acme-prod+k8s", "shps_x")).decode()
    assert f"  .dockerconfigjson: {encoded}\n" in yaml
    assert (
        "kind: Secret\nmetadata:\n  name: acme-prod-pull\n  namespace: web\ntype: kubernetes.io/dockerconfigjson\n"
        in yaml
    )
    assert yaml.endswith(
        "kind: ServiceAccount\nmetadata:\n  name: default\n  namespace: web\n"
        "imagePullSecrets:\n- name: acme-prod-pull\n"
    )


def test_default_names() -> None:
    assert pull_secrets.default_secret_name("acme_prod") == "acme-prod-pull"
    assert pull_secrets.credential_name("web") == "k8s-web"
    assert pull_secrets.credential_name("a--b") == "k8s-a-b"
    assert len(pull_secrets.credential_name("n" * 63)) == 64


@pytest.mark.parametrize("namespace", ["Web", "-web", "web-", "a_b", "x" * 64, ""])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(NameInvalid, match="namespace"):
        pull_secrets.validate_namespace(namespace)


@pytest.mark.parametrize("name", ["regcred", "acme-prod.pull", "a"])
def test_good_object_names(name: str) -> None:
    assert pull_secrets.validate_object_name(name, "Secret") == name
