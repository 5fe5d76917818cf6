"""Intake: registration at a branch, form numbers, read-back confirmation, minor complaints closed on the spot."""
