"""Runtime shared by every service: settings, event store wiring, outbox relay, tracking consumer, broker."""
