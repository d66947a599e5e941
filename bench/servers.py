"""Start, watch and stop the registries under test, each on its own port of 127.0.0.1.

Only processes this harness started are ever signalled, by PID; a descendant (a Shipshape worker) is only
signalled if its /proc start time still matches the one seen while it ran, so a reused PID is never hit.
Memory is read from /proc for the server process and all of its descendants: VmRSS (/proc/PID/status) and
PSS (/proc/PID/smaps_rollup; each shared page divided among the processes that map it), summed over the tree,
plus the VmRSS of the largest single process. Summed VmRSS counts a page shared copy-on-write by forked
workers once per process; summed PSS counts it once.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DISTRIBUTION_BIN = "docker-registry"
_MAX_TREE = 256


# --- /proc helpers ---------------------------------------------------------------------------------------


def start_time(pid: int) -> int | None:
    """The process start time (field 22 of /proc/PID/stat), or None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc/PID/task/*/children."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (bounded breadth-first walk)."""
    tree = [pid]
    for i in range(_MAX_TREE):
        if i >= len(tree):
            break
        tree.extend(c for c in children(tree[i]) if c not in tree)
    return tree


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of a process (its own CPU and its reaped children's), in ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


def rss_bytes(pid: int) -> int:
    """VmRSS of one process in bytes (0 if it is gone or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Pss of one process in bytes, from /proc/PID/smaps_rollup (0 if it is gone or a zombie).

    PermissionError propagates: a PSS of 0 because /proc would not tell must not pass as a measurement.
    """
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except PermissionError:
        raise
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass(frozen=True)
class Memory:
    """Memory of a process tree in bytes: VmRSS summed, PSS summed, VmRSS of the largest single process."""

    rss_sum: int = 0
    pss_sum: int = 0
    rss_max: int = 0

    def peak(self, other: Memory) -> Memory:
        """The larger of each field (the peaks of different fields may come from different samples)."""
        return Memory(
            max(self.rss_sum, other.rss_sum), max(self.pss_sum, other.pss_sum), max(self.rss_max, other.rss_max)
        )


# --- servers ---------------------------------------------------------------------------------------------


class StartupError(RuntimeError):
    """A server exited or never became healthy."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A registry process started by this harness."""

    label: str
    kind: str
    title: str
    workdir: Path
    port: int
    health_path: str
    short: str = ""
    proc: subprocess.Popen[bytes] | None = None
    seen: dict[int, int] = field(default_factory=dict)  # descendant pid -> start time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def tree(self) -> list[int]:
        """The server and its descendants (empty once it has exited); remembers descendants for ``stop``."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        tree = process_tree(self.proc.pid)
        with self._lock:
            for pid in tree[1:]:
                if pid not in self.seen and (st := start_time(pid)) is not None:
                    self.seen[pid] = st
        return tree

    def tree_memory(self) -> Memory:
        """VmRSS and PSS of the server and its descendants, read process by process in one pass."""
        per_process = [(rss_bytes(pid), pss_bytes(pid)) for pid in self.tree()]
        rss = [r for r, _ in per_process]
        return Memory(sum(rss), sum(p for _, p in per_process), max(rss, default=0))

    def tree_cpu_ticks(self) -> int:
        """CPU used so far by the server and its live descendants (and reaped ones, via cutime)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        return sum(cpu_ticks(pid) for pid in process_tree(self.proc.pid))

    def launch(self, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.tree()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise StartupError(f"{self.label} exited during startup; its log ends:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.1)
        raise StartupError(f"{self.label} not healthy after {timeout:.0f} s; its log ends:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            conn.request("GET", self.health_path)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the server by PID, SIGKILL it after ``grace`` s, then any descendant it left behind."""
        if self.proc is None:
            return
        self.tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=grace)
        with self._lock:
            leftovers = [pid for pid, st in self.seen.items() if start_time(pid) == st]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace / 3
            while time.monotonic() < deadline and any(self._alive(pid) for pid in leftovers):
                time.sleep(0.1)
            with self._lock:
                leftovers = [pid for pid in leftovers if self._alive(pid)]
            if not leftovers:
                return

    def _alive(self, pid: int) -> bool:
        """Is ``pid`` still the (non-zombie) descendant we saw?"""
        return start_time(pid) == self.seen.get(pid) and rss_bytes(pid) > 0


def start_distribution(label: str, workdir: Path, binary: str = DISTRIBUTION_BIN) -> Server:
    """CNCF Distribution with its own config, filesystem storage under ``workdir``, logging quiet."""
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    server = Server(label, "distribution", "Distribution", workdir, port, "/v2/", short="Distribution")
    server.launch([binary, "serve", str(config)])
    return server


def start_shipshape(
    label: str,
    workdir: Path,
    binary: str,
    workers: int | None,
    log_level: str,
    extra_args: list[str],
    admin_password: str | None = None,
) -> Server:
    """Shipshape with a fresh data directory under ``workdir``; with ``--auth`` if ``admin_password`` is given.

    Distribution runs without authentication here, so the Shipshape it is compared with does too; the one with
    authentication gets the admin password through SHIPSHAPE_ADMIN_PASSWORD, as the first start reads it.
    """
    port = free_port()
    data = workdir / "data"
    data.mkdir(parents=True)
    auth = "--auth" if admin_password is not None else "--no-auth"
    cmd = [binary, "serve", auth, "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if log_level:
        cmd += ["--log-level", log_level]
    title = "Shipshape" + (f" ({workers} workers)" if workers is not None else "")
    server = Server(label, "shipshape", title, workdir, port, "/healthz", short="Shipshape")
    # Settings come from the command line only, not from SHIPSHAPE_* variables of whoever runs this.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPSHAPE_")}
    if admin_password is not None:
        env["SHIPSHAPE_ADMIN_PASSWORD"] = admin_password
    server.launch(cmd + extra_args, env=env)
    return server


class MemorySampler:
    """Samples a server's tree memory in a thread until stopped (or ``max_seconds``), keeping the peaks."""

    def __init__(self, server: Server, interval: float = 0.02, max_seconds: float = 3600.0) -> None:
        self.server = server
        self.interval = interval
        self.max_seconds = max_seconds
        self.peak = Memory()
        self.samples = 0
        self._error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.peak = self.peak.peak(self.server.tree_memory())
                self.samples += 1
                self._stop.wait(self.interval)
        except Exception as exc:  # re-raised by stop(), so a dead sampler cannot report a low peak
            self._error = exc

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Memory:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"memory sampling of {self.server.label} failed: {self._error}") from self._error
        self.peak = self.peak.peak(self.server.tree_memory())
        return self.peak


def distribution_version(binary: str = DISTRIBUTION_BIN) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().split()[-1] if out.strip() else "unknown"
