"""The three servers the benchmark starts: order-graph, the ceiling and PostGraphile.

Each runs as one process, pinned with `taskset` to the server CPU when pinning is on (the
load generators get the other CPU). Nothing else is pinned: PostgreSQL is the machine's
shared service and keeps its own scheduling. A server's CPU time is read from /proc: its own
and its descendants' (live ones, and those it has waited for), so a Node worker thread or a
child process counts too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from common import BENCH, CLIENT_NAME, ROOT, VENV_BIN, WORK, dsn, sqlalchemy_url

PEER = BENCH / "postgraphile"
PEER_NODE = PEER / "node_modules" / ".bin" / "node"
PEER_LOCK = PEER / "package-lock.json"
PEER_INSTALLED = PEER / "node_modules" / ".installed-lock"
# The ceiling's and PostGraphile's database pools. order-graph keeps the pool it ships with
# (20, failing a request after 2 s without a connection); these two queue instead of failing,
# and on one server core 10 connections keep them busy. Small, because the three servers run
# at once against a PostgreSQL whose 100 connections the machine shares.
POOL_SIZE = 10


class Unavailable(Exception):
    """A server could not be started: nothing is reported."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpus: set[int] | None) -> list[str]:
    if cpus is None:
        return []
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Server:
    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, cpus: set[int] | None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.cpus = cpus
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.log = WORK / "logs" / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*pinned(self.cpus), *self.argv],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise Unavailable(f"{self.name} exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise Unavailable(f"{self.name} did not answer /healthz within 90 s (see {self.log})")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server and its descendants, in seconds."""
        if self.process is None:
            return None
        own = _stat(self.process.pid)
        if own is None:
            return None
        ticks = sum(int(own[n]) for n in (11, 12, 13, 14))  # utime stime cutime cstime
        for pid in _descendants(self.process.pid):
            fields = _stat(pid)
            if fields is not None:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Waits until the server stops working off requests whose clients left.

        wrk and the open-loop generator hang up with requests in flight (up to one per
        connection); the server still completes them, and that would eat into the next run.
        """
        if self.cpu_seconds() is None:
            time.sleep(0.5)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu_seconds() or 0.0
            time.sleep(0.2)
            if (self.cpu_seconds() or 0.0) - before < 0.02:
                return

    def reset_peak(self) -> bool:
        """Resets the peak RSS (VmHWM) so it covers the next scenario only (Linux >= 4.0)."""
        if self.process is None:
            return False
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def peak_rss_mb(self) -> float | None:
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return round(int(found.group(1)) / 1024, 1) if found else None


def clean_env() -> dict[str, str]:
    """This environment without any ORDER_GRAPH_* setting of the caller's own shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ORDER_GRAPH_", "BENCH_"))}


def order_graph(database: str, key: str | None, cpus: set[int] | None) -> Server:
    port = free_port()
    env = clean_env()
    env["ORDER_GRAPH_DATABASE_URL"] = sqlalchemy_url(database)
    env["ORDER_GRAPH_HOST"] = "127.0.0.1"
    env["ORDER_GRAPH_PORT"] = str(port)
    if key is None:
        env["ORDER_GRAPH_AUTH"] = "off"
    argv = [str(VENV_BIN / "order-graph"), "serve"]
    return Server("order-graph", argv, env, port, cpus)


def ceiling(database: str, key: str | None, cpus: set[int] | None) -> Server:
    port = free_port()
    env = clean_env()
    if key is not None:
        env["BENCH_API_KEY"] = key
    argv = [str(VENV_BIN / "python"), str(BENCH / "ceiling.py"), "--database", database]
    argv += ["--pool-size", str(POOL_SIZE)]
    return Server("ceiling", [*argv, "--port", str(port)], env, port, cpus)


def peer_missing() -> str | None:
    """Why PostGraphile cannot run, or None. Its Node project is installed by `make bench`."""
    if not PEER_NODE.exists() or not PEER_INSTALLED.exists():
        return f"PostGraphile is not installed in {PEER.relative_to(ROOT)}"
    if PEER_INSTALLED.read_bytes() != PEER_LOCK.read_bytes():
        return f"{PEER.relative_to(ROOT)}/node_modules is older than its package-lock.json"
    return None


def postgraphile(database: str, key: str | None, cpus: set[int] | None) -> Server:
    port = free_port()
    env = clean_env()
    env["NODE_ENV"] = "production"
    if key is not None:
        env["BENCH_API_KEY"] = key
    argv = [str(PEER_NODE), str(PEER / "server.mjs"), "--database-url", dsn(database)]
    argv += ["--pool-size", str(POOL_SIZE)]
    return Server("postgraphile", [*argv, "--port", str(port)], env, port, cpus)


def headers(key: str | None) -> dict[str, str]:
    found = {"X-Client-Id": CLIENT_NAME}
    if key is not None:
        found["Authorization"] = f"Bearer {key}"
    return found


def versions() -> dict[str, str | None]:
    """Node's and PostGraphile's versions, for the results' `machine`."""
    if not PEER_NODE.exists():
        return {"node": None, "postgraphile": None}
    node = subprocess.run([str(PEER_NODE), "--version"], capture_output=True, text=True)
    package = PEER / "node_modules" / "postgraphile" / "package.json"
    found = re.search(r'"version":\s*"([^"]+)"', package.read_text()) if package.exists() else None
    return {
        "node": node.stdout.strip() or None,
        "postgraphile": found.group(1) if found else None,
    }


def have_wrk() -> bool:
    return shutil.which("wrk") is not None
