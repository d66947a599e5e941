"""Fixtures for the end-to-end suite: a real registry process and real clients.

The server under test is ``shipshape serve``. For developing the suite only, SHIPSHAPE_E2E_TARGET=distribution
runs CNCF Distribution (``docker-registry``) instead; shipshape-only checks are skipped there.

External tools (skopeo, podman, umoci, containerd/ctr, docker-registry) are required: a missing tool
fails the test when CI=true and skips it elsewhere.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from .support import (
    TARGET_DISTRIBUTION,
    Containerd,
    MultiArchLayout,
    OciLayoutImage,
    Podman,
    RegistryHTTP,
    RegistryServer,
    Skopeo,
    build_multiarch_layout,
    build_umoci_image,
    require_tool,
    safe_rmtree,
    selected_target,
)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Lets fixtures see at teardown whether the test failed (to print the server's log).
    report = yield
    setattr(item, f"_e2e_report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"_e2e_report_{when}", None), "failed", False) for when in ("setup", "call")
    )


@pytest.fixture
def e2e_tmp() -> Iterator[Path]:
    """A private, short directory under /tmp (short: podman's runroot and unix sockets need it)."""
    path = Path(tempfile.mkdtemp(prefix="sse-", dir="/tmp"))
    yield path
    safe_rmtree(path)


@pytest.fixture
def target() -> str:
    return selected_target()


@pytest.fixture
def registry(request: pytest.FixtureRequest, e2e_tmp: Path, target: str) -> Iterator[RegistryServer]:
    """A started registry server on a free 127.0.0.1 port with a fresh data directory.

    Exposes ``address``, ``url``, ``data_dir``, ``pid``; ``kill9()`` and ``restart()`` (same data dir)
    for the crash test. Stopped by its PID at teardown.
    """
    server = RegistryServer(target, e2e_tmp / "srv")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if _failed(request):
            print(f"server ({server.target}) logs:\n{server.log_tail()}")


@pytest.fixture
def shipshape_only(target: str) -> None:
    if target == TARGET_DISTRIBUTION:
        pytest.skip("shipshape-only behaviour: not checked against the Distribution dev target")


@pytest.fixture
def http(registry: RegistryServer) -> Iterator[RegistryHTTP]:
    client = RegistryHTTP(lambda: registry.url)
    yield client
    client.close()


@pytest.fixture
def skopeo(e2e_tmp: Path) -> Skopeo:
    return Skopeo(e2e_tmp / "sk")


@pytest.fixture
def podman(e2e_tmp: Path) -> Podman:
    return Podman(e2e_tmp / "pm")


@pytest.fixture
def containerd(request: pytest.FixtureRequest, e2e_tmp: Path) -> Iterator[Containerd]:
    daemon = Containerd(e2e_tmp / "ctd")
    daemon.base.mkdir(parents=True, exist_ok=True)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        if _failed(request):
            print(f"containerd log:\n{daemon.log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def make_oci_image(e2e_tmp: Path) -> Callable[..., OciLayoutImage]:
    """Factory: an umoci-built OCI layout (files in one layer, config.cmd set). Requires umoci."""
    require_tool("umoci")
    counter = iter(range(1_000_000))

    def make(**kwargs: object) -> OciLayoutImage:
        return build_umoci_image(e2e_tmp / f"img{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_multiarch_layout(e2e_tmp: Path) -> Callable[..., MultiArchLayout]:
    """Factory: a hand-written OCI layout whose tag is an index of linux/amd64 and linux/arm64."""
    counter = iter(range(1_000_000))

    def make(**kwargs: object) -> MultiArchLayout:
        return build_multiarch_layout(e2e_tmp / f"multi{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return make
