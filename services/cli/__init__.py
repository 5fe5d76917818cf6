"""The `complaints` operations command: history, replay, verify, export, report, and the operator commands."""
