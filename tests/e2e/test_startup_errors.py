"""Every reason `shipshape serve` cannot start is one or two lines on stderr and exit code 1, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import free_port, shipshape_command

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("shipshape_only")]


def refused(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run `shipshape serve ARGS`, which must refuse to start; its stderr."""
    result = subprocess.run(
        [shipshape_command(), "serve", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, (result.returncode, stderr)
    assert "Traceback" not in stderr and "Traceback" not in result.stdout.decode()
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, stderr
    assert all(line.startswith("shipshape: ") for line in lines), stderr
    return stderr


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def test_a_port_in_use_is_named_and_nothing_is_created(e2e_tmp: Path, listening: int) -> None:
    for workers in ("1", "2"):
        data = e2e_tmp / f"data-{workers}"
        args = ["--listen", f"127.0.0.1:{listening}", "--data-dir", str(data), "--workers", workers]
        stderr = refused(args, e2e_tmp)
        assert f"cannot listen on 127.0.0.1:{listening}: address already in use" in stderr
        assert "--listen another port" in stderr
        assert not data.exists()  # refused before the data dir or the database is touched


def test_an_unknown_host_is_named_with_addresses_to_give(e2e_tmp: Path) -> None:
    stderr = refused(["--listen", "nosuchhost.invalid:5000", "--data-dir", str(e2e_tmp / "d")], e2e_tmp)
    assert "unknown host 'nosuchhost.invalid'" in stderr and "--listen 127.0.0.1:5000" in stderr


def test_an_address_of_another_machine_is_refused(e2e_tmp: Path) -> None:
    stderr = refused(["--listen", "192.0.2.1:5000", "--data-dir", str(e2e_tmp / "d")], e2e_tmp)
    assert "192.0.2.1 is not an address of this machine" in stderr


def test_a_data_dir_that_is_a_file_is_refused(e2e_tmp: Path) -> None:
    (e2e_tmp / "afile").write_text("")
    port = str(free_port())
    stderr = refused(["--no-auth", "--listen", f"127.0.0.1:{port}", "--data-dir", str(e2e_tmp / "afile")], e2e_tmp)
    assert "the data dir" in stderr and "is a file, not a directory" in stderr
    under_a_file = ["--no-auth", "--listen", f"127.0.0.1:{port}", "--data-dir", str(e2e_tmp / "afile" / "data")]
    assert "cannot be written (not a directory)" in refused(under_a_file, e2e_tmp)


def test_a_read_only_data_dir_is_refused(e2e_tmp: Path) -> None:
    """On a read-only mount (a private mount namespace: no privilege needed, nothing seen outside)."""
    unshare = shutil.which("unshare")
    read_only = e2e_tmp / "ro"
    read_only.mkdir()
    if unshare is None or subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs unshare with user namespaces to mount a directory read-only")
    command = (
        f"mount --bind {read_only} {read_only} && mount -o remount,bind,ro {read_only}"
        f' && exec "$0" serve --no-auth --listen 127.0.0.1:{free_port()} --data-dir {read_only}'
    )
    result = subprocess.run(
        [unshare, "-rm", "sh", "-c", command, shipshape_command()], capture_output=True, timeout=120, check=False
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert f"shipshape: the data dir {read_only} cannot be written (read-only file system)" in stderr


def test_tls_needs_both_files_and_they_must_exist(e2e_tmp: Path) -> None:
    base = ["--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(e2e_tmp / "d")]
    missing = refused([*base, "--tls-cert", "nope.pem", "--tls-key", "nope.key"], e2e_tmp)
    assert "tls_cert (--tls-cert): 'nope.pem' does not exist" in missing
    assert "tls_key (--tls-key): 'nope.key' does not exist" in missing
    (e2e_tmp / "cert.pem").write_text("not a certificate\n")
    half = refused([*base, "--tls-cert", "cert.pem"], e2e_tmp)
    assert "tls_cert (--tls-cert) is set without tls_key (--tls-key): HTTPS needs both" in half
    wrong = refused([*base, "--tls-cert", "cert.pem", "--tls-key", "cert.pem"], e2e_tmp)
    assert "cannot serve HTTPS with --tls-cert cert.pem and --tls-key cert.pem" in wrong


def test_an_unreachable_postgresql_is_one_line_without_its_password(e2e_tmp: Path) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/x"
    args = ["--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(e2e_tmp / "d"), "--database-url", url]
    stderr = refused(args, e2e_tmp)
    assert "cannot use the metadata database postgresql://postgres:***@127.0.0.1:1/x" in stderr
    assert "Connection refused" in stderr and "s3cret" not in stderr


def test_an_unknown_toml_key_is_named_with_the_key_meant(e2e_tmp: Path) -> None:
    config = e2e_tmp / "shipshape.toml"
    config.write_text('lisen = "127.0.0.1:5000"\n')
    stderr = refused(["--config", str(config), "--data-dir", str(e2e_tmp / "d")], e2e_tmp)
    assert stderr.strip() == f"shipshape: lisen in {config} is not a setting: did you mean 'listen'?"
    config.write_text("listen = \n")
    assert "is not valid TOML" in refused(["--config", str(config), "--data-dir", str(e2e_tmp / "d")], e2e_tmp)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--log-level", "loud"], "log_level (--log-level): 'loud' is not a log level: use debug, info, warning or"),
        (["--listen", "nowhere"], "listen (--listen): 'nowhere' is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "with a port from 1 to 65535"),
        (["--workers", "0"], "workers (--workers): input should be greater than or equal to 1, not '0'"),
        (["--workers", "two"], "workers (--workers): input should be a valid integer"),
        (["--lockout-failures", "-1"], "lockout_failures (--lockout-failures):"),
        (["--webhook-retry-delay", "soon"], "webhook_retry_delay (--webhook-retry-delay): input should be a valid"),
        (["--gc-grace", "30"], "gc_grace (--gc-grace): 30: give a unit, e.g. 30d, 30h, 30m or 30s"),
        (["--lockout-duration", "a while"], "lockout_duration (--lockout-duration): invalid duration 'a while'"),
        (["--gc-interval", "0"], "gc_interval (--gc-interval): an interval must be at least 1s"),
        (["--upload-max-idle", "1y"], "upload_max_idle (--upload-max-idle): invalid duration '1y'"),
        (["--retention-interval", "24"], "retention_interval (--retention-interval): 24: give a unit"),
        (["--blob-store", "images"], "blob_store (--blob-store): give file://DIR or s3://BUCKET[/PREFIX]"),
        (["--public-url", "registry.example.com"], "public_url (--public-url): 'registry.example.com' is not a URL"),
        (["--s3-endpoint-url", "seaweed:8333"], "s3_endpoint_url (--s3-endpoint-url): 'seaweed:8333' is not a URL"),
        (["--database-url", "mysql://db/x"], "database_url (--database-url): unsupported metadata database 'mysql'"),
        (["--lisen", "127.0.0.1:5000"], "No such option: --lisen"),
        (["--config", "missing.toml"], "file 'missing.toml' does not exist"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_setting(e2e_tmp: Path, args: list[str], expected: str) -> None:
    assert expected in refused(["--data-dir", str(e2e_tmp / "d"), *args], e2e_tmp)


def test_a_wrong_value_in_the_environment_reads_the_same(e2e_tmp: Path) -> None:
    stderr = refused(["--data-dir", str(e2e_tmp / "d")], e2e_tmp, {"SHIPSHAPE_WORKERS": "many"})
    assert "workers (--workers): input should be a valid integer" in stderr


def test_several_problems_are_a_line_each(e2e_tmp: Path) -> None:
    stderr = refused(["--data-dir", str(e2e_tmp / "d"), "--workers", "0", "--gc-grace", "1"], e2e_tmp)
    assert stderr.count("shipshape: ") == 2 and "workers" in stderr and "gc_grace" in stderr
