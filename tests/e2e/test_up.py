"""`make up` as a new user runs it: fixed ports, URLs and tokens printed, the console served, Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.kafkaserver import port_in_use

pytestmark = pytest.mark.e2e
PORTS = [9092, 8001, 8002, 8003, 8004, 8005, 8006, 8007, 8008]


def test_make_up_serves_on_fixed_ports_prints_tokens_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    if any(port_in_use("127.0.0.1", p) for p in PORTS):
        pytest.fail(f"one of the fixed ports {PORTS} is taken on this machine")
    process = subprocess.Popen([sys.executable, "-m", "services.demo.up", "--data-dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "runs until Ctrl-C" in line:
                break
        out = "".join(lines)
        assert "http://127.0.0.1:8001" in out and "http://127.0.0.1:8005" in out, out
        tokens = dict(re.findall(r"export (TOKEN_\w+)=(\S+)", out))
        assert {"TOKEN_BRANCH_CLERK", "TOKEN_OPERATOR", "TOKEN_REGIONAL_MANAGER"} <= set(tokens)
        details = httpx.get("http://127.0.0.1:8001/health/details",
                            headers={"Authorization": f"Bearer {tokens['TOKEN_OPERATOR']}"}, timeout=5)
        assert details.status_code in (200, 503) and details.json()["service"] == "intake"
        assert httpx.get("http://127.0.0.1:8001/health/details", timeout=5).status_code == 401
        # the console, with the password it prints
        assert "http://127.0.0.1:8008" in out and "demo-password" in out, out
        login = httpx.get("http://127.0.0.1:8008/login", timeout=5)
        assert login.status_code == 200 and 'name="password"' in login.text
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, "".join(lines) + (process.stdout.read() if process.stdout else "")
    deadline = time.monotonic() + 10
    while any(port_in_use("127.0.0.1", p) for p in PORTS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(port_in_use("127.0.0.1", p) for p in PORTS), "everything stopped"
