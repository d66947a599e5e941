"""Two applications on one database but with data dirs of their own, as on two hosts: a credential revoked on one
stops working on the other at its next read of the database's revocation epoch, although the other had verified
and cached that very login a moment before."""

from __future__ import annotations

from pathlib import Path

from shipshape.app import REVOCATION_EPOCH
from tests.http.manage_support import running_api


async def test_a_revocation_on_one_host_ends_a_login_cached_on_another(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        running_api(tmp_path / "a", database_url=shared) as here,
        running_api(tmp_path / "b", database_url=shared) as there,
    ):
        await here.registry("acme-dev")
        username, secret = await here.credential("ci", "acme-dev")
        assert (await there.logs_in(username, secret)).status == 200  # verified there, and cached

        assert (await here.post(f"/credentials/{username}/revoke")).status == 200
        assert (await here.logs_in(username, secret)).status == 401  # here: at once
        await here.client.app[REVOCATION_EPOCH].written()
        await there.client.app[REVOCATION_EPOCH].refresh()  # what its background task does every second

        assert (await there.logs_in(username, secret)).status == 401
