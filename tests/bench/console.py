"""`make bench` (console): how long the console takes to answer its pages, signed in, with the
services behind it as OS processes on the embedded default, and how much memory it holds.

Registers N complaints (each another branch's clerk, through intake), starts the console, signs the
HQ clerk in, and times page loads of the inbox, a complaint's page (HQ's row, its merged history,
routing's deadlines, quality, billing and notify read at once), a search and a step's form: first
one at a time, then from 8 clients at once. Prints p50, p95 and p99 per page and the console's RSS.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from contracts.envelope import ServiceName
from services.common.access import rules
from services.common.cluster import ConsoleProcess, LocalCluster
from services.common.settings import ReadSide
from services.demo import samples

BRANCHES = [b for region in rules().regions.values() for b in region]


def sign_in(console: ConsoleProcess, user: str = "hq-clerk-xu") -> dict[str, str]:
    with httpx.Client(base_url=console.url) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.cookies.set("console_login", page.cookies["console_login"])
        signed = client.post("/login", data={"user": user, "password": "demo-password", "csrf_token": token},
                             follow_redirects=False)
        return {"console_session": signed.cookies["console_session"]}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def timed(client: httpx.AsyncClient, paths: list[str], concurrency: int) -> list[float]:
    queue = list(paths)
    took: list[float] = []

    async def worker() -> None:
        while queue:
            path = queue.pop()
            start = time.perf_counter()
            response = await client.get(path)
            took.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return took


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200, help="page loads per page and phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, LocalCluster(Path(workdir), log_level="WARNING") as cluster:
        intake = cluster.url(ServiceName.INTAKE)
        forms = []
        with httpx.Client(timeout=30) as client:
            for i in range(args.complaints):
                branch = BRANCHES[i % len(BRANCHES)]
                answer = client.post(f"{intake}/complaints", json=samples.quality_complaint(branch),
                                     headers=cluster.auth(**samples.clerk_of(branch)))
                answer.raise_for_status()
                forms.append(answer.json()["form_number"])
            hq = cluster.url(ReadSide.HQ)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                listed = client.get(f"{hq}/complaints", params={"limit": 1, "q": forms[-1]},
                                    headers=cluster.auth(**samples.OPERATOR))
                if listed.status_code == 200 and listed.json()["items"]:
                    break
                time.sleep(0.5)
        with ConsoleProcess(cluster) as console:
            cookies = sign_in(console)
            pages = {
                "inbox": ["/inbox"] * args.requests,
                "complaint": [f"/complaints/{forms[i % len(forms)]}" for i in range(args.requests)],
                "search": [f"/complaints?q={q}" for q in ["漏油", "开裂", "GX-200", "SH01"] * (args.requests // 4)],
                "step form": [f"/complaints/{forms[i % len(forms)]}/steps/routing/on-site-dispatch"
                              for i in range(args.requests)],
            }
            print(f"console bench: {args.complaints} complaints, {args.requests} loads per page and phase")

            async def run() -> None:
                async with httpx.AsyncClient(base_url=console.url, cookies=cookies, timeout=60) as client:
                    await timed(client, ["/inbox"] * 5, 1)  # warm: the services' OpenAPI read once
                    for concurrency in (1, 8):
                        for name, paths in pages.items():
                            started = time.perf_counter()
                            took = await timed(client, paths, concurrency)
                            elapsed = time.perf_counter() - started
                            print(f"  {name:<10} x{len(took)} with {concurrency} client(s): "
                                  f"p50 {statistics.median(took) * 1000:7.1f} ms  p95 {percentile(took, 95) * 1000:7.1f} ms  "
                                  f"p99 {percentile(took, 99) * 1000:7.1f} ms  {len(took) / elapsed:6.1f} pages/s")
            asyncio.run(run())
            assert console.process is not None
            print(f"  console RSS after the run: {rss_mib(console.process.pid):.0f} MiB")


if __name__ == "__main__":
    main()
