"""`make run` on a fresh machine: the development-keys banner once (every `flask` command builds the app, and
the set-up steps' copies are dropped), and both demo sign-ins, the owner's and the plain member's."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("timeout") and (ROOT / ".venv/bin/flask").exists()),
                    reason="needs make, timeout and the project's .venv")
def test_make_run_prints_the_keys_banner_once_and_both_demo_sign_ins(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ENCRYPTION_KEYS", "TOKEN_HASH_KEY",
                                                           "DATABASE_URL", "REDIS_URL", "HUBX_ENV"}}
    env.update(HUBX_INSTANCE_PATH=str(tmp_path / "instance"), PORT=str(_free_port()))
    # `-o install`: the .venv is there already; this test must not reinstall it
    # (`timeout`: should the server never start, the output ends and the test fails instead of hanging)
    server = subprocess.Popen(["timeout", "120", "make", "-s", "-o", "install", "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        for line in server.stdout:
            lines.append(line)
            if "Running on http://" in line:
                break
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = "".join(lines)
    assert "Running on http://" in output, output
    assert output.count("USING DEVELOPMENT KEYS") == 1, output
    assert "admin@demo.example.com / hubx-demo-password" in output
    assert "member@demo.example.com / hubx-demo-password" in output
