"""Quotas as a team meets them with real clients: skopeo's push past the account's quota fails with the
registry's message (used, limit, what to do) and stores nothing; `shipshape usage` tells the same numbers; after
`shipshape account set-quota` the same push succeeds; `max_image_size` refuses a large image."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .auth_support import failed, output
from .policy_support import Acme, acme_world
from .support import OciLayoutImage, Skopeo, require_tool

pytestmark = pytest.mark.e2e


@pytest.fixture
def acme(request: pytest.FixtureRequest) -> Iterator[Acme]:
    require_tool("skopeo")
    with acme_world("ssq-") as acme:
        yield acme
        if failed(request):
            print(f"server logs:\n{acme.world.server.log_tail()}")


def test_a_push_past_the_quota_fails_with_the_quota_message_and_stores_nothing(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    admin = acme.world.admin
    small = make_oci_image(files={"small": b"fits"})
    skopeo.copy(small.ref, acme.ref("acme-dev/app:v1"), "--dest-creds", acme.ci.creds)
    before = admin.json("usage", "--account", "acme")
    admin.run("account", "set-quota", "acme", str(before["used_bytes"] + 64 * 1024))
    big = make_oci_image(random_bytes=512 * 1024)

    refused = skopeo.run(
        "copy", "--dest-tls-verify=false", "--dest-creds", acme.ci.creds, big.ref, acme.ref("acme-dev/app:v2"),
        check=False,
    )  # fmt: skip

    message = output(refused)
    assert refused.returncode != 0
    assert "denied" in message.lower() and "storage quota of account acme exceeded" in message, message
    after = admin.json("usage", "--account", "acme")
    assert after["used_bytes"] == before["used_bytes"]  # nothing of the big image was stored
    assert after["quota_bytes"] == before["used_bytes"] + 64 * 1024
    table = admin.run("usage", "--account", "acme").stdout.decode()
    assert "Account acme:" in table and "acme-dev/app" in table

    admin.run("account", "set-quota", "acme", "10GiB")
    skopeo.copy(big.ref, acme.ref("acme-dev/app:v2"), "--dest-creds", acme.ci.creds)
    grown = admin.json("usage", "--registry", "acme-dev")
    assert grown["used_bytes"] > before["used_bytes"] + 512 * 1024
    assert [(g["tag"], g["previous_tag"]) for g in grown["growth"]] == [("v2", "v1")]
    audit = json.loads(admin.run("audit", "--account", "acme", "--json").stdout)
    assert any(event["action"] == "account.set-quota" for event in audit)


def test_max_image_size_refuses_a_large_image(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    acme.world.admin.run("registry", "set", "acme-dev", "--max-image-size", "100KiB")
    big = make_oci_image(random_bytes=300 * 1024)

    refused = skopeo.run(
        "copy", "--dest-tls-verify=false", "--dest-creds", acme.ci.creds, big.ref, acme.ref("acme-dev/big:v1"),
        check=False,
    )  # fmt: skip

    assert refused.returncode != 0
    assert "larger than the 100KiB" in output(refused), output(refused)
    acme.world.admin.run("registry", "set", "acme-dev", "--max-image-size", "0")
    skopeo.copy(big.ref, acme.ref("acme-dev/big:v1"), "--dest-creds", acme.ci.creds)
