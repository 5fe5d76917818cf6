"""Messages that cross service boundaries: versioned pydantic v2 models, and nothing else.

Services import this package and the bus, never each other.
"""
