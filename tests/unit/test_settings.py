"""Settings of `shipshape serve`: where blobs live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shipshape.app import open_blob_store
from shipshape.config import Settings, load_settings
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
