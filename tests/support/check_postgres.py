"""Before the tests: say clearly when PostgreSQL is missing, and how to provide it."""

import sys

from tests.support.postgres import ADMIN_URL, reachable

problem = reachable()
if problem:
    print(f"""
PostgreSQL is not reachable at {ADMIN_URL}:
  {problem}

The integration and end-to-end tests need a real PostgreSQL (they are not skipped).
Start one there (user postgres, trust or password auth), or point the tests at
another server with TEST_POSTGRES_URL=postgresql://user:password@host:5432/postgres
(the user needs CREATEDB: each test run creates and drops its own databases).
Unit tests alone, without PostgreSQL: make test-unit
""", file=sys.stderr)
    sys.exit(1)
print(f"PostgreSQL reachable at {ADMIN_URL}")
