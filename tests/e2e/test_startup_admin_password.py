"""The first start's admin password: shown once, after the address is bound, never lost to a refused start; and
`shipshape admin reset-password` when it is lost. Also what the start-up and access logs say."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from shipshape.auth.passwords import verify_password
from shipshape.metadata.access_store import open_access_store
from tests.e2e.support import RegistryServer, free_port, shipshape_command

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("shipshape_only")]

PASSWORD_SHOWN = re.compile(r"shown only this once[^\n]*\n\n    (\S+)\n")


def _shipshape(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shipshape_command(), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def _stored_hash(data_dir: Path, username: str) -> str:
    async def read() -> str:
        store = open_access_store(f"sqlite:///{data_dir / 'metadata.db'}", threads=1)
        try:
            found = await store.get_member(username)
        finally:
            await store.close()
        assert found is not None
        return found[1]

    return asyncio.run(read())


def _status(server: RegistryServer, username: str, password: str) -> int:
    return requests.get(f"{server.url}/v2/", auth=(username, password), timeout=30).status_code


@pytest.fixture
def no_admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPSHAPE_ADMIN_PASSWORD", raising=False)


@pytest.mark.usefixtures("no_admin_password")
def test_the_generated_password_comes_after_the_listening_line_and_a_reset_replaces_it(e2e_tmp: Path) -> None:
    server = RegistryServer("shipshape", e2e_tmp / "srv", auth=True)
    server.start()
    try:
        first = PASSWORD_SHOWN.search(server.stdout_log.read_text())
        assert first is not None, server.stdout_log.read_text()
        password = first.group(1)
        assert _status(server, "admin", password) == 200
        records = [json.loads(line) for line in server.stderr_log.read_text().splitlines() if line.startswith("{")]
        assert f"listening on http://127.0.0.1:{server.port}" in [r["message"] for r in records]
        assert password not in server.stderr_log.read_text()  # on the terminal only, never in the log

        # Lost: reset on the server's machine while it runs; the old password stops at once.
        reset = _shipshape("admin", "reset-password", "--data-dir", str(server.data_dir))
        assert reset.returncode == 0, reset.stderr
        shown = PASSWORD_SHOWN.search(reset.stdout)
        assert shown is not None, reset.stdout
        new = shown.group(1)
        assert _status(server, "admin", password) == 401
        assert _status(server, "admin", new) == 200
        stored = _stored_hash(server.data_dir, "admin")
        assert stored.startswith("$argon2id$") and new not in stored and verify_password(stored, new)

        chosen = _shipshape(
            "admin", "reset-password", "--data-dir", str(server.data_dir), "--password-stdin",
            stdin="correct horse battery staple",
        )  # fmt: skip
        assert chosen.returncode == 0 and chosen.stdout.strip() == "Password of admin changed"
        assert _status(server, "admin", "correct horse battery staple") == 200
    finally:
        server.stop()


def test_a_reset_that_cannot_be_done_says_why_in_one_line(e2e_tmp: Path) -> None:
    nowhere = _shipshape("admin", "reset-password", "--data-dir", str(e2e_tmp / "none"))
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    assert nowhere.stderr.strip().splitlines() == [
        f"shipshape: no database in the data dir {e2e_tmp / 'none'}: run this on the server's machine with its"
        " --data-dir (or --database-url, or --config)"
    ]
    assert not (e2e_tmp / "none").exists()
    server = RegistryServer("shipshape", e2e_tmp / "srv", auth=True)
    server.start()
    server.stop()
    nobody = _shipshape("admin", "reset-password", "bob", "--data-dir", str(server.data_dir))
    assert nobody.returncode == 1 and nobody.stderr.strip().splitlines() == [
        "shipshape: there is no member 'bob': give the username of an owner (`reset-password USERNAME`)"
    ]
    weak = _shipshape("admin", "reset-password", "--data-dir", str(server.data_dir), "--password-stdin", stdin="x")
    assert weak.returncode == 1 and "the new password is not accepted: password is too short" in weak.stderr


@pytest.mark.usefixtures("no_admin_password")
def test_a_refused_admin_password_creates_no_account_and_the_next_start_shows_one(e2e_tmp: Path) -> None:
    data = e2e_tmp / "data"
    args = ["serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data)]
    result = subprocess.run(
        [shipshape_command(), *args], env={**os.environ, "SHIPSHAPE_ADMIN_PASSWORD": "short"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "shipshape: SHIPSHAPE_ADMIN_PASSWORD is not accepted: password is too short: use at least 12 characters"
        " (three or four unrelated words make a good one)"
    ]
    assert not data.exists()  # refused before anything was made
    server = RegistryServer("shipshape", e2e_tmp, auth=True)
    server.start()
    try:
        shown = PASSWORD_SHOWN.search(server.stdout_log.read_text())
        assert shown is not None and _status(server, "admin", shown.group(1)) == 200
    finally:
        server.stop()


def test_the_access_log_has_client_user_method_path_status_bytes_and_duration(
    e2e_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "correct horse battery staple"
    monkeypatch.setenv("SHIPSHAPE_ADMIN_PASSWORD", password)
    server = RegistryServer("shipshape", e2e_tmp / "json", auth=True)
    server.start()
    try:
        assert _status(server, "admin", password) == 200
        assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 401
        me = requests.get(f"{server.url}/api/v1/me", auth=("admin", password), timeout=30)
        assert me.status_code == 200
    finally:
        server.stop()  # the log is complete once the process is gone
    records = [json.loads(line) for line in server.stderr_log.read_text().splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("path") in ("/v2/", "/api/v1/me")]
    assert [(r["remote"], r["user"], r["method"], r["path"], r["status"]) for r in access] == [
        ("127.0.0.1", "admin", "GET", "/v2/", 200),
        ("127.0.0.1", None, "GET", "/v2/", 401),
        ("127.0.0.1", "admin", "GET", "/api/v1/me", 200),
    ]
    assert all(r["bytes"] > 0 and r["duration_ms"] >= 0 for r in access)


def test_the_text_access_line_reads_the_same(e2e_tmp: Path) -> None:
    server = RegistryServer("shipshape", e2e_tmp / "text", extra_args=["--log-text"])
    server.start()
    try:
        assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 200
    finally:
        server.stop()
    log = server.stderr_log.read_text()
    assert f"listening on http://127.0.0.1:{server.port}" in log
    assert re.search(r"aiohttp\.access: 127\.0\.0\.1 - GET /v2/ 200 \d+ bytes [\d.]+ ms", log), log
