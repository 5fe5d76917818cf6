"""Routing: classification, routing, memos, approvals, deadlines and escalation, disputes, closure."""
