"""Runs one child of the stack: `python -I -S devstack/child_exec.py PARENT SIGNAL [USER] -- COMMAND...`.

It asks the kernel to send SIGNAL when PARENT (the supervisor) dies (Linux PR_SET_PDEATHSIG),
drops to USER when given (Postgres refuses to run as root), and then becomes COMMAND (exec, same
pid). A separate small program rather than Popen's preexec_fn/user: those make Python fork()
instead of vfork(), and gRPC's fork handlers can hang a forking parent that has open channels.

Standard library only, started with -I -S so it costs milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    split = argv.index("--")
    parent, signal_name, *user = argv[:split]
    command = argv[split + 1 :]
    if user:
        entry = pwd.getpwnam(user[0])
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    # After the user switch: changing credentials clears the death signal.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.Signals[signal_name]), 0, 0, 0)
    if os.getppid() != int(parent):  # the supervisor died before the request took effect
        sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
