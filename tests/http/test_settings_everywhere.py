"""Registries and webhooks are cached in each process: a change made through one process applies to the very next
request on another, whether the two share a data dir (two workers of one host) or only the database (two hosts,
after the other's next read of the settings epoch, which its background task makes every second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipshape.app import SETTINGS_EPOCH
from tests.http.manage_support import ManageApi, basic, running_api


@pytest.fixture(params=["one host", "two hosts"])
def layout(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path | None, Path | None]:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    if request.param == "one host":
        return shared, tmp_path / "data", tmp_path / "data"
    return shared, None, None


async def _pair(tmp_path: Path, layout: tuple[str, Path | None, Path | None]):  # type: ignore[no-untyped-def]
    url, first_dir, second_dir = layout
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return (
        running_api(tmp_path / "a", database_url=url, data_dir=first_dir),
        running_api(tmp_path / "b", database_url=url, data_dir=second_dir),
    )


async def _caught_up(here: ManageApi, there: ManageApi, layout: tuple[str, Path | None, Path | None]) -> None:
    if layout[1] is None:  # on another host: once the change is in the database, what a second's refresh does
        await here.client.app[SETTINGS_EPOCH].written()
        await there.client.app[SETTINGS_EPOCH].refresh()


async def test_a_policy_change_through_one_process_refuses_the_next_push_on_another(
    tmp_path: Path, layout: tuple[str, Path | None, Path | None]
) -> None:
    first, second = await _pair(tmp_path, layout)
    async with first as here, second as there:
        await here.registry("acme-dev")
        login = await here.credential("ci", "acme-dev")
        assert await there.push_image("acme-dev/app", "v1", login) == 201  # the registry is cached there now

        changed = await here.call("PATCH", "/registries/acme-dev/policy", {"denied_tags": ["v2"]})
        assert changed.status == 200, changed.body
        await _caught_up(here, there, layout)

        assert await there.push_image("acme-dev/app", "v2", login) == 403
        assert await there.push_image("acme-dev/app", "v3", login) == 201


async def test_a_deleted_registry_is_gone_at_once_for_another_process(
    tmp_path: Path, layout: tuple[str, Path | None, Path | None]
) -> None:
    first, second = await _pair(tmp_path, layout)
    async with first as here, second as there:
        await here.registry("acme-dev")
        login = await here.credential("ci", "acme-dev")
        listed = await there.client.get("/v2/acme-dev/app/tags/list", headers=basic(*login))
        assert listed.status == 404  # allowed, and empty: the registry is cached there now

        assert (await here.call("DELETE", "/registries/acme-dev")).status in (200, 204)
        await _caught_up(here, there, layout)

        assert await there.push_image("acme-dev/app", "v2", login) in (401, 403, 404)


async def test_a_webhook_created_through_one_process_hears_the_next_push_on_another(
    tmp_path: Path, layout: tuple[str, Path | None, Path | None]
) -> None:
    first, second = await _pair(tmp_path, layout)
    async with first as here, second as there:
        await here.registry("acme-dev")
        login = await here.credential("ci", "acme-dev")
        await _caught_up(here, there, layout)  # with the registry's creation
        assert await there.push_image("acme-dev/app", "v1", login) == 201  # nobody heard it; that is cached there

        created = await here.post(
            "/webhooks", {"url": "http://127.0.0.1:9/hook", "registry": "acme-dev", "events": ["push"]}
        )
        assert created.status == 201, created.body
        await _caught_up(here, there, layout)
        assert await there.push_image("acme-dev/app", "v2", login) == 201

        deliveries = await here.get(f"/webhooks/{created.body['id']}/deliveries")
        assert deliveries.status == 200, deliveries.body
        assert [delivery["subject"] for delivery in deliveries.body["deliveries"]] == ["acme-dev/app:v2"]
