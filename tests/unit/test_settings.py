"""Settings of `shipshape serve`: where blobs live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shipshape.app import open_blob_store
from shipshape.config import Settings, SettingsInvalid, load_settings
from shipshape.storage.filesystem import FilesystemBlobStore
from shipshape.storage.s3 import S3BlobStore, S3Location


def test_blobs_live_in_the_data_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.blob_dir == tmp_path
    assert isinstance(open_blob_store(settings), FilesystemBlobStore)


def test_a_file_url_names_another_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", blob_store=f"file://{tmp_path / 'blobs'}")
    assert settings.blob_dir == tmp_path / "blobs"


def test_an_s3_url_names_a_bucket_and_prefix(tmp_path: Path) -> None:
    settings = load_settings(None, {"data_dir": tmp_path, "blob_store": "s3://images/prod/registry",
                                    "s3_endpoint_url": "http://127.0.0.1:8333", "s3_region": "eu-west-1"})  # fmt: skip
    assert settings.blob_dir is None
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.location == S3Location("images", "prod/registry", "http://127.0.0.1:8333", "eu-west-1")


@pytest.mark.parametrize("url", ["images", "http://images", "s3://", "file://", "s3:/images"])
def test_a_blob_store_url_of_another_form_is_refused_with_the_forms_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match=r"file://DIR or s3://BUCKET\[/PREFIX\]"):
        Settings(blob_store=url)


def test_a_server_on_the_filesystem_does_not_load_the_s3_client(tmp_path: Path) -> None:
    """botocore costs ~15 MB per process: only a server configured for S3 imports it."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from shipshape.app import build_app\n"
        "from shipshape.config import Settings\n"
        "import shipshape.server\n"
        f"build_app(Settings(data_dir=Path({str(tmp_path / 'data')!r}), auth=False))\n"
        "print(sorted(name for name in ('botocore', 'aiobotocore') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("listen", "auth", "host", "port"),
    [("127.0.0.1:5001", True, "127.0.0.1", 5001), ("[::1]:5001", True, "::1", 5001),
     (":5001", False, "0.0.0.0", 5001),  # every interface, as Distribution's `addr: :5001`
     ("5001", False, "127.0.0.1", 5001), ("5001", True, "0.0.0.0", 5001)],  # the default host
)  # fmt: skip
def test_listen_takes_host_and_port_or_a_port_alone(listen: str, auth: bool, host: str, port: int) -> None:
    settings = Settings(listen=listen, auth=auth)
    assert (settings.host, settings.port) == (host, port)


def test_a_problem_is_one_line_naming_the_setting_not_pydantic_text(tmp_path: Path) -> None:
    config = tmp_path / "shipshape.toml"
    config.write_text('gc_grace = 30\nworkers = 0\nlog_levle = "info"\n')
    with pytest.raises(SettingsInvalid) as refused:
        load_settings(config, {"listen": "5000x"})
    assert sorted(refused.value.problems) == sorted(
        [
            f"log_levle in {config} is not a setting: did you mean 'log_level'?",
            "listen (--listen): '5000x' is not HOST:PORT: give e.g. 127.0.0.1:5000, 0.0.0.0:5000, [::]:5000, :5000"
            " (every interface) or 5000 (the default host), with a port from 1 to 65535",
            "workers (--workers): input should be greater than or equal to 1, not 0",
            "gc_grace (--gc-grace): 30: give a unit, e.g. 30d, 30h, 30m or 30s",  # a TOML number has no unit either
        ]
    )


def test_a_zero_grace_needs_no_unit() -> None:
    assert Settings(gc_grace="0").gc_grace.total_seconds() == 0  # type: ignore[arg-type]
