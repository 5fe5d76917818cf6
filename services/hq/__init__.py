"""HQ's read model: every topic projected into one table of complaints, the unified inbox and the timeline."""
