"""The index endpoint on loopback under load: requests/s and latency percentiles from wrk.

Target: at least 500 requests/s with p99 under 50 ms for 30 s on this 2-core machine. The
baseline, measured in the same run against the same server, is a static file through the same
stack (framework and middleware cost without any index work). wrk comes from Debian's package.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

DURATION_S = int(os.environ.get("BENCH_SERVICE_SECONDS", "30"))
CONNECTIONS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrk(url: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    figures = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}_ms"] = float(value) * units[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk); skipped")
        return
    port = _free_port()
    workers = int(os.environ.get("BENCH_SERVICE_WORKERS", "2"))
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hashmarket",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--data-dir",
                data_dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(
                        f"{base}/api/v1/index/hashprice?last=30", timeout=5
                    ).read()
                    break
                except OSError:
                    time.sleep(0.25)
            for _ in range(20):  # warm every worker's caches
                urllib.request.urlopen(f"{base}/api/v1/index/hashprice?last=30", timeout=5).read()
            baseline = _wrk(f"{base}/static/dashboard.css")
            index = _wrk(f"{base}/api/v1/index/hashprice?last=30")
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"uvicorn workers: {workers}, wrk -t2 -c{CONNECTIONS} -d{DURATION_S}s, loopback, 2 cores")
    runs = (("GET /api/v1/index/hashprice?last=30", index), ("baseline static file", baseline))
    for name, f in runs:
        print(
            f"{name}: {f['requests_per_s']:,.0f} req/s, p50 {f['p50_ms']:.1f} ms, "
            f"p90 {f['p90_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, non-2xx {f['non_2xx']:.0f}"
        )
    print("target: >= 500 req/s with p99 < 50 ms")
