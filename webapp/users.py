"""Give someone a sign-in, or a new password: ``python -m webapp.users set USERNAME --roles manager --employee M1``.

The password is asked for twice at the prompt (or read from standard input with ``--password-stdin``),
never taken from the command line, where it would land in the shell history and the process list.
Setting a password ends the user's open sessions.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from services.embedded import database_url
    from services.errors import UserError
    from services.settings import get_settings
    from services.users import ROLES, upsert_user

    parser = argparse.ArgumentParser(prog="python -m webapp.users", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    set_ = sub.add_parser("set", help="create a user or reset their roles and password")
    set_.add_argument("username")
    set_.add_argument("--roles", required=True, help=f"comma-separated, some of: {', '.join(ROLES)}")
    set_.add_argument("--employee", help="the employee id (needed for the manager and employee roles)")
    set_.add_argument("--name", help="display name (default: the employee's name)")
    set_.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    try:
        db = database_url(get_settings())
        upsert_user(db, args.username, password, [r.strip() for r in args.roles.split(",") if r.strip()],
                    args.employee, args.name)
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{args.username} can sign in now")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
