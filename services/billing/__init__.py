"""Billing: cost allocation by the §5.5 rules, salesperson penalties, cost ledger."""
