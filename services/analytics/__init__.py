"""Analytics: the monthly figures of the procedure from a read model of every topic, and the
batch-defect early warning (its own store, its own topic)."""
