"""Operator command: republish a service's event log from a position.

    python -m services.common.republish --service intake --from-position 1

For a broker that lost its data (the development broker keeps nothing across a
restart; a production topic can be recreated). It rewinds the relay's recorded
position in the service's own store; the running relay (or the next one to start)
publishes everything from that position again, in order. Consumers that already
processed an event ignore it: they deduplicate by this store's positions.
Reads the same environment as the service itself (`<SERVICE>_DATABASE_URL`, ...).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.outbox import chain_at
from services.common.settings import ServiceSettings
from services.common.store import PositionTable, ServiceApplication, store_env


def service_application(settings: ServiceSettings) -> ServiceApplication:
    """The service's own application class on its store (it knows how to read its events)."""
    module = importlib.import_module(f"services.{settings.service.value}.application")
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, ServiceApplication)
                and getattr(value, "SERVICE", None) is settings.service):
            return value(env=store_env(settings))
    raise LookupError(f"services.{settings.service.value}.application has no ServiceApplication")


def rewind(settings: ServiceSettings, from_position: int, sink: str | None = None) -> tuple[str, int]:
    """Make `sink` receive every notification from `from_position` on again; returns (sink, max id)."""
    if from_position < 1:
        raise ValueError("from_position: notification ids start at 1")
    app = service_application(settings)
    try:
        sink = sink or events_topic(settings.service)
        table = PositionTable(app)
        _, state = table.load(sink)
        # Each message names the previous one published on its partition: rebuild that chain
        # as it stood at the rewound position, so republished messages carry the same links.
        state["chain"] = chain_at(app, from_position - 1)
        table.rewind(sink, from_position - 1, state)
        return sink, app.recorder.max_notification_id() or 0
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True, choices=[s.value for s in ServiceName])
    parser.add_argument("--from-position", type=int, required=True, help="first notification id to publish again")
    parser.add_argument("--sink", help="relay to rewind (default: the service's events topic)")
    args = parser.parse_args(argv)
    settings = ServiceSettings.for_service(ServiceName(args.service))()
    try:
        sink, last = rewind(settings, args.from_position, args.sink)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.service}: {sink} will be republished from notification {args.from_position} "
          f"(the log ends at {last}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
