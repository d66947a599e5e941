"""Run wrk against one URL and parse its report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

WRK_BIN = "wrk"


@dataclass(frozen=True)
class WrkResult:
    requests_per_sec: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int
    latency_p50: str
    latency_p99: str
    output: str

    @property
    def clean(self) -> bool:
        return self.non_2xx_3xx == 0 and self.socket_errors == 0 and self.requests > 0


def run_wrk(url: str, headers: dict[str, str], threads: int, connections: int, seconds: int) -> WrkResult:
    """``wrk -tT -cC -dDs --latency -H ... URL``; fails if wrk does or its report cannot be read."""
    cmd = [WRK_BIN, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in ", out, re.M)
    if rps is None or total is None:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        requests=int(total.group(1)),
        non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        latency_p50=_percentile(out, "50%"),
        latency_p99=_percentile(out, "99%"),
        output=out,
    )


def _percentile(out: str, pct: str) -> str:
    m = re.search(rf"^\s+{re.escape(pct)}\s+(\S+)", out, re.M)
    return m.group(1) if m else "?"
