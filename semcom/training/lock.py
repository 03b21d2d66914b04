"""A lock file in ``out_dir`` so that two runs never write one folder.

``out_dir/.lock`` holds ``{"pid", "host"}`` of the process that trains there. It is
created atomically (``O_EXCL``); a lock whose process is gone (same host, pid no longer
alive: a killed run) is stale and taken over; a live one is a clear error. On another
host the pid cannot be checked, so its lock counts as held until removed by hand.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from semcom.errors import SemcomError

LOCK = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    """Hold ``out_dir/.lock`` between :meth:`acquire` and :meth:`release`."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / LOCK
        self.held = False

    def _holder(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # half written or garbage: treated as stale

    def acquire(self) -> None:
        """Take the lock, replacing a stale one.

        Raises:
            SemcomError: another live process holds it (its pid and host are named).
        """
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._holder()
                if owner is None:
                    continue  # released meanwhile
                pid, host = owner.get("pid"), owner.get("host")
                stale = isinstance(pid, int) and host == me["host"] and not _alive(pid) or not owner
                if not stale:
                    raise SemcomError(f"{self.path.parent} is in use by another training run (pid {pid} on "
                                      f"{host}, lock {self.path}); wait for it, use another out_dir, or delete "
                                      "the lock file if that run is gone") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise SemcomError(f"cannot take the lock {self.path}: other processes keep replacing it")

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
