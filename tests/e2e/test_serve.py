"""`shipshape serve` itself: settings from file, environment and flags; JSON logs; TLS; several workers."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.support import (
    OciLayoutImage,
    RegistryServer,
    Skopeo,
    free_port,
    postgres_database,
    require_tool,
    shipshape_command,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("shipshape_only")]


def _healthy(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def launched(e2e_tmp: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        stop_process(process)


def _launch(processes: list[subprocess.Popen[bytes]], args: list[str], cwd: Path, env: dict[str, str]) -> Path:
    log = cwd / "serve.log"
    with log.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [shipshape_command(), "serve", "--no-auth", *args],
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return log


def test_settings_come_from_toml_then_environment_then_flags(
    e2e_tmp: Path, launched: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    config = e2e_tmp / "shipshape.toml"
    config.write_text(f'listen = "127.0.0.1:1"\ndata_dir = "{e2e_tmp / "from-file"}"\nlog_json = false\n')
    log = _launch(
        launched,
        ["--config", str(config), "--listen", f"127.0.0.1:{port}"],
        e2e_tmp,
        {"SHIPSHAPE_LOG_JSON": "true"},
    )
    wait_until(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=60, what="server health")
    requests.get(f"http://127.0.0.1:{port}/v2/", timeout=10)
    assert (e2e_tmp / "from-file" / "metadata.db").exists()  # data_dir from the file
    stop_process(launched[0])
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r.get("path") == "/v2/" and r.get("status") == 200 for r in records)  # JSON from the environment


def test_invalid_settings_exit_with_a_message(e2e_tmp: Path) -> None:
    result = subprocess.run(
        [shipshape_command(), "serve", "--listen", "nowhere", "--data-dir", str(e2e_tmp / "d")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "shipshape: listen (--listen): 'nowhere' is not HOST:PORT: give e.g. 127.0.0.1:5000, 0.0.0.0:5000,"
        " [::]:5000, :5000 (every interface) or 5000 (the default host), with a port from 1 to 65535"
    ]


def test_an_unreachable_s3_store_stops_the_start_in_one_line_and_changes_nothing(e2e_tmp: Path) -> None:
    closed = free_port()  # nothing listens there
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    result = subprocess.run(
        [shipshape_command(), "serve", "--no-auth", "--data-dir", str(e2e_tmp / "d"), "--blob-store", "s3://images",
         "--s3-endpoint-url", f"http://127.0.0.1:{closed}", "--s3-region", "us-east-1"],
        capture_output=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines()[-1].startswith("shipshape: the S3 bucket images on http")
    assert b"Traceback" not in result.stderr
    assert not (e2e_tmp / "d" / "metadata.db").exists()  # checked before the database is migrated


def test_tls_serves_https_to_skopeo(
    e2e_tmp: Path, launched: list[subprocess.Popen[bytes]], skopeo: Skopeo, make_oci_image: object
) -> None:
    openssl = require_tool("openssl")
    cert, key = e2e_tmp / "cert.pem", e2e_tmp / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    _launch(
        launched,
        ["--listen", f"127.0.0.1:{port}", "--data-dir", str(e2e_tmp / "data"), "--tls-cert", str(cert),
         "--tls-key", str(key)],
        e2e_tmp, {},
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    wait_until(lambda: _healthy(f"https://127.0.0.1:{port}", context), timeout=60, what="https health")
    image: OciLayoutImage = make_oci_image()  # type: ignore[operator]
    # --dest-cert-dir makes skopeo verify the server against our CA: a real TLS handshake, no plain-HTTP fallback.
    certs = e2e_tmp / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(cert.read_bytes())
    skopeo.run("copy", "--dest-cert-dir", str(certs), image.ref, f"docker://127.0.0.1:{port}/tls/app:v1")
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/v2/tls/app/tags/list", context=context) as response:
        assert json.load(response)["tags"] == ["v1"]


def test_several_workers_share_the_port_and_resume_each_others_uploads(e2e_tmp: Path) -> None:
    server = RegistryServer("shipshape", e2e_tmp / "srv", extra_args=["--workers", "2"])
    server.start()
    try:
        data = os.urandom(8 * 1024 * 1024)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        chunk = 512 * 1024
        # A new connection per request: SO_REUSEPORT spreads them over both workers, so chunks of one upload
        # arrive at a process that lacks its hash state and must rebuild it from the stored bytes.
        location = requests.post(f"{server.url}/v2/w/app/blobs/uploads/", timeout=30).headers["Location"]
        for start in range(0, len(data), chunk):
            response = requests.patch(
                f"{server.url}{location}",
                data=data[start : start + chunk],
                headers={"Content-Range": f"{start}-{start + chunk - 1}", "Connection": "close"},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            location = response.headers["Location"]
        done = requests.put(f"{server.url}{location}?digest={digest}", timeout=30)
        assert done.status_code == 201, done.text
        pulled = requests.get(f"{server.url}/v2/w/app/blobs/{digest}", timeout=30)
        assert hashlib.sha256(pulled.content).hexdigest() == digest.split(":")[1]
        records = [
            json.loads(line)
            for path in server.log_paths
            if path.exists()
            for line in path.read_text().splitlines()
            if line.startswith("{")
        ]
        patch_pids = {r["pid"] for r in records if r.get("method") == "PATCH" and r.get("status") == 202}
        assert len(patch_pids) == 2, "the chunks should have reached both workers"
        assert server.metrics().get("shipshape_blob_uploads_total") == 1.0
    finally:
        server.stop()


def test_serves_from_postgresql_with_several_workers(
    e2e_tmp: Path, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    with postgres_database() as database_url:
        server = RegistryServer(
            "shipshape", e2e_tmp / "srv", extra_args=["--database-url", database_url, "--workers", "2"]
        )
        try:
            server.start()
            image = make_oci_image()
            skopeo.copy(image.ref, f"docker://{server.address}/pg/app:v1")
            inspected = skopeo.inspect_json(f"docker://{server.address}/pg/app:v1")
            assert inspected["Digest"] == image.manifest_digest
            assert skopeo.list_tags(f"docker://{server.address}/pg/app") == ["v1"]
            assert not (server.data_dir / "metadata.db").exists()  # the metadata went to PostgreSQL
        finally:
            server.stop()
