"""`make up`: Apache Kafka and every service on the embedded default, on fixed ports, until Ctrl-C.

Prints each service's URL and a ready token for each demo role (signed with the local key in
the data directory, valid for 8 hours), so that curl can be used at once (README, "Try it").
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from services.common.cluster import SERVICES, ConsoleProcess, LocalCluster
from services.common.kafkaserver import kafka_version, port_in_use
from services.common.settings import DEFAULT_HTTP_PORTS
from services.console.settings import DEFAULT_PORT as CONSOLE_PORT

#: Who the demo tokens are for: (user, role, branch, region).
DEMO_ROLES = [
    ("clerk-li", "branch_clerk", "SH01", None),
    ("rm-wang", "regional_manager", None, "EAST"),
    ("hq-chen", "hq_clerk", None, None),
    ("md-sun", "marketing_director", None, None),
    ("qa-zhang", "quality_department", None, None),
    ("gm-liu", "general_manager", None, None),
    ("ops-zhou", "operator", None, None),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("COMPLAINTS_DATA_DIR", "var/up")))
    parser.add_argument("--broker-port", type=int, default=9092)
    args = parser.parse_args(argv)

    taken = [p for p in (args.broker_port, *DEFAULT_HTTP_PORTS.values(), CONSOLE_PORT) if port_in_use("127.0.0.1", p)]
    if taken:
        print(f"make up: port(s) {', '.join(map(str, taken))} already in use; stop what runs there "
              "(another `make up`?) and try again", file=sys.stderr)
        return 1
    args.data_dir.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(args.data_dir, kafka_port=args.broker_port)
    cluster.ports = dict(DEFAULT_HTTP_PORTS)
    console = ConsoleProcess(cluster, port=CONSOLE_PORT)
    stopping = {"now": False}

    def stop(*_: object) -> None:
        stopping["now"] = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        cluster.start()
        console.start()
        print(f"\nconsole  {console.url}   sign in as clerk-li, rm-wang, hq-clerk-xu, md-huang, hqrm-zhou, qd-lin, "
              f"gm-chen, ... (services/console/users.yaml), password demo-password")
        assert cluster.broker is not None
        print(f"broker   {cluster.bootstrap_servers}   (Apache Kafka {kafka_version()}, one node; data in "
              f"{cluster.broker.directory}, log {cluster.broker.nodes[0].log_path})")
        for service in SERVICES:
            print(f"{service.value:<9} {cluster.url(service)}   docs: {cluster.url(service)}/docs   "
                  f"log: {cluster.log_path(service)}")
        print(f"stores   SQLite files in {args.data_dir}/\n\ntokens (8 hours):")
        for user, role, branch, region in DEMO_ROLES:
            token = cluster.token(user, role, branch, region)
            where = f" {branch or region}" if (branch or region) else ""
            print(f"  export TOKEN_{role.upper()}={token}   # {user}, {role}{where}")
        print("\nEverything runs until Ctrl-C.", flush=True)
        while not stopping["now"]:
            for service, process in list(cluster.processes.items()):
                if process.poll() is not None:
                    print(f"{service.value} exited with {process.returncode}; see {cluster.log_path(service)}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping...", flush=True)
        console.stop()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
