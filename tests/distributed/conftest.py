"""A real local Ray cluster (a head and a second worker node, separate processes on free ports) and a Milvus Lite
server (``milvus-lite server``: the Milvus gRPC protocol, so the cluster code path), both started for the module."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           # a local test cluster: no token auth (Ray 2.60 turns it on once a token file exists in ~/.ray)
           "RAY_AUTH_MODE": "disabled", **extra}
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """``ray start --head`` plus ``ray start --address`` (a second node): 1 CPU each, 80 MB object stores."""
    pytest.importorskip("ray", reason="needs the ray extra: pip install 'polyseek[ray]'")
    ray_bin = str(VENV_BIN / "ray")
    temp = Path("/tmp") / f"psray{os.getpid()}"  # Ray's socket paths must stay short
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = quiet_env()
    logs = tmp_path_factory.mktemp("ray-logs")
    common = ["--num-cpus", "1", "--object-store-memory", "80000000", "--disable-usage-stats",
              "--node-ip-address", "127.0.0.1"]
    with open(logs / "head.log", "w") as out:  # a file, not a pipe: Ray's daemons keep stdout open
        subprocess.run([ray_bin, "start", "--head", "--port", str(port), "--include-dashboard=false",
                        "--temp-dir", str(temp), *common], env=env, stdout=out, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, check=True, timeout=180)
    auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # this process and its children connect as the cluster expects
    try:
        with open(logs / "node.log", "w") as out:
            subprocess.run([ray_bin, "start", "--address", address, *common], env=env, stdout=out,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True, timeout=180)
        yield address
    finally:
        if auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth
        with open(logs / "stop.log", "w") as out:
            subprocess.run([ray_bin, "stop", "--force"], env=env, stdout=out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """``milvus-lite server`` on a free port: what a shared Milvus is to every machine. Yields ``host:port``."""
    pytest.importorskip("pymilvus", reason="needs the milvus extra")
    pytest.importorskip("milvus_lite", reason="needs the milvus extra")
    from pymilvus import MilvusClient

    port = free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    log = open(data.parent / f"milvus-{port}.log", "w")
    server = subprocess.Popen([str(VENV_BIN / "milvus-lite"), "server", "--data-dir", str(data / "db"),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env=quiet_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=5).close()
            break
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
