"""`python -m services.console.users hash`: the argon2id hash of a password, for the users file.

The password is read from the terminal without echo (or from standard input when piped), never
from the command line, where it would stay in the shell's history.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from services.console.domain.users import hash_password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.console.users", description=__doc__)
    parser.add_argument("command", choices=["hash"])
    parser.parse_args(argv)
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("a password of at least 8 characters is needed", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
