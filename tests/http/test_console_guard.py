"""The console's walls, on the real application: who may open a page, how long a session lasts, where a form may
come from, and what every answer carries (an HTML page, the Content Security Policy)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from shipshape.app import build_app
from shipshape.auth.console_sessions import SESSION_LIFETIME
from shipshape.config import Settings
from shipshape.metadata.migrate import migrate
from tests.http.manage_support import ADMIN, ADMIN_PASSWORD, ManageApi, running_api

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        yield api


async def _sign_in(
    client: TestClient, username: str = ADMIN, password: str = ADMIN_PASSWORD, **extra: str
) -> ClientResponse:
    form = {"username": username, "password": password, **extra}
    return await client.post("/ui/sign-in", data=form, allow_redirects=False)


async def _token(client: TestClient) -> str:
    page = await client.get("/ui/")
    found = _CSRF.search(await page.text())
    assert found, await page.text()
    return found.group(1)


async def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(api: ManageApi) -> None:
    answer = await api.client.get("/ui/audit?registry=x", allow_redirects=False)
    assert answer.status == 303
    location = URL(answer.headers["Location"])
    assert location.path == "/ui/sign-in" and location.query["next"] == "/ui/audit?registry=x"
    signed = await _sign_in(api.client, next="/ui/audit?registry=x")
    assert signed.status == 303 and signed.headers["Location"] == "/ui/audit?registry=x"


async def test_the_session_cookie_is_http_only_same_site_strict_and_scoped_to_the_console(api: ManageApi) -> None:
    answer = await _sign_in(api.client)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("shipshape_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set behind TLS
    page = await api.client.get("/ui/")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/ui/", "/ui/\\evil.example", "/v2/"])
async def test_sign_in_never_sends_the_browser_off_the_console(api: ManageApi, target: str) -> None:
    answer = await _sign_in(api.client, next=target)
    assert answer.status == 303 and answer.headers["Location"] == "/ui/"


async def test_a_session_ends_after_its_lifetime(api: ManageApi) -> None:
    await _sign_in(api.client)
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 200
    api.clock.advance(SESSION_LIFETIME + timedelta(seconds=1))
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 303


async def test_a_removed_member_is_signed_out_at_once(api: ManageApi) -> None:
    await api.account("acme")
    username, password = await api.member("dora", "developer", account="acme")
    await _sign_in(api.client, username, password)
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 200
    assert (await api.call("DELETE", f"/members/{username}")).status == 204
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 303


async def test_a_forged_or_damaged_cookie_is_no_session(api: ManageApi) -> None:
    await _sign_in(api.client)
    (cookie,) = [c for c in api.client.session.cookie_jar if c.key == "shipshape_session"]
    api.client.session.cookie_jar.clear()
    header, claims, signature = cookie.value.split(".")
    for forged in (f"{header}.{claims}.{signature[::-1]}", f"{header}.{claims[:-4]}.{signature}", "", "x"):
        answer = await api.client.get("/ui/", headers={"Cookie": f"shipshape_session={forged}"}, allow_redirects=False)
        assert answer.status == 303, forged
    answer = await api.client.get(
        "/ui/", headers={"Cookie": f"shipshape_session={cookie.value}"}, allow_redirects=False
    )
    assert answer.status == 200


async def test_a_form_from_another_site_is_refused_even_with_the_right_token(api: ManageApi) -> None:
    await _sign_in(api.client)
    token = await _token(api.client)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = await api.client.post("/ui/sign-out", data={"csrf": token}, headers=headers, allow_redirects=False)
        assert answer.status == 403
        assert "another site" in await answer.text()
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 200  # still signed in


async def test_a_form_with_a_wrong_or_missing_token_is_refused(api: ManageApi) -> None:
    await _sign_in(api.client)
    for form in ({}, {"csrf": "not-the-token"}):
        answer = await api.client.post("/ui/sign-out", data=form, allow_redirects=False)
        assert answer.status == 403 and "security token" in await answer.text()
    assert (await api.client.get("/ui/", allow_redirects=False)).status == 200


async def test_a_credential_cannot_sign_in_to_the_console(api: ManageApi) -> None:
    await api.registry("acme-dev")
    username, secret = await api.credential("deploy", "acme-dev")
    answer = await _sign_in(api.client, username, secret)
    assert answer.status == 403 and "machine credential" in await answer.text()
    assert "Set-Cookie" not in answer.headers


async def test_every_answer_is_a_page_with_the_content_security_policy(api: ManageApi) -> None:
    await _sign_in(api.client)
    for path, status in (("/ui/", 200), ("/ui/no-such-page", 404), ("/ui/sign-in", 303)):
        answer = await api.client.get(path, allow_redirects=False)
        assert answer.status == status, path
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["X-Frame-Options"] == "DENY"
    missing = await api.client.get("/ui/no-such-page")
    assert missing.content_type == "text/html" and "there is no page at /ui/no-such-page" in await missing.text()


async def test_the_root_address_opens_the_console(api: ManageApi) -> None:
    answer = await api.client.get("/", allow_redirects=False)
    assert answer.status == 302 and answer.headers["Location"] == "/ui/"


async def test_without_authentication_the_console_says_it_needs_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth=False)
    settings.data_dir.mkdir()
    migrate(settings.metadata_url)
    async with TestClient(TestServer(build_app(settings))) as client:
        answer = await client.get("/ui/sign-in")
        assert answer.status == 503 and "--auth" in await answer.text()


async def test_behind_a_tls_proxy_the_session_cookie_is_secure(tmp_path: Path) -> None:
    async with running_api(tmp_path, public_url="https://registry.example.com") as api:
        answer = await _sign_in(api.client)
        assert "Secure" in answer.headers["Set-Cookie"]
