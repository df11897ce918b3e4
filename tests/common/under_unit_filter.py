"""Runs a command under the system call filter of a systemd unit, as systemd applies it.

under_unit_filter.py UNIT COMMAND [ARG ...]

Reads the unit's SystemCallFilter= lines in order (the first one without ~ makes an
allow list, later ones add to it or, with ~, take from it; a first one with ~ makes a
deny list), expands the @groups with `systemd-analyze syscall-filter`, sets
no_new_privs as NoNewPrivileges= does, loads the filter with libseccomp (Debian
package python3-seccomp) and execs COMMAND. A call the filter refuses fails with
SystemCallErrorNumber= (EPERM by default), as under systemd.
"""
import ctypes
import errno
import os
import subprocess
import sys

import seccomp

unit, command = sys.argv[1], sys.argv[2:]
listing = subprocess.run(
    ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
).stdout
groups, group = {}, None
for line in listing.splitlines():
    if line.startswith("@"):
        group = line.split()[0]
        groups[group] = []
    elif group and line.startswith("    ") and not line.strip().startswith("#"):
        groups[group].append(line.strip())


def expand(name, seen):
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    return set().union(*(expand(n, seen) for n in groups.get(name, [])))


allow, deny, error = None, set(), errno.EPERM
for line in open(unit):
    key, _, value = line.strip().partition("=")
    if key == "SystemCallErrorNumber":
        error = getattr(errno, value)
    if key != "SystemCallFilter":
        continue
    negated = value.startswith("~")
    names = set().union(*(expand(n, set()) for n in value.lstrip("~").split()))
    if allow is None and not deny:
        if negated:
            deny = names
        else:
            allow = names
    elif allow is not None:
        allow = allow - names if negated else allow | names
    else:
        deny = deny | names if negated else deny - names

if allow is not None:
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    action, names = seccomp.ALLOW, allow
else:
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    action, names = seccomp.ERRNO(error), deny
for name in sorted(names):
    try:
        rules.add_rule(action, name)
    except (RuntimeError, ValueError):
        pass  # a call this kernel or architecture does not have
PR_SET_NO_NEW_PRIVS = 38
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("cannot set no_new_privs")
rules.load()
os.execv(command[0], command)
