"""Prints a development JWT (`make -s token USER=<id> ROLE=<teacher|admin>`) as its last line."""

from __future__ import annotations

import argparse

from common.auth import KNOWN_ROLES, mint_token
from common.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--user", required=True, help="user id (the token's subject)")
    parser.add_argument("--role", action="append", choices=sorted(KNOWN_ROLES), help="repeatable")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds the token is valid")
    args = parser.parse_args()
    if not args.user.strip():
        parser.error("--user must not be empty")
    print(mint_token(get_settings(), args.user, args.role or ["teacher"], args.ttl))


if __name__ == "__main__":
    main()
