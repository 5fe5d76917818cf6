"""Notify: who must be told what, through which channel; delivery (a log sink for now)."""
