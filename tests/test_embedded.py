"""The embedded PostgreSQL stops with its last user, even after another user died without a clean exit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

from sql.db import EmbeddedPostgres


def test_a_user_killed_with_sigkill_does_not_keep_the_server_running(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited: as a serve killed with -9 leaves its pid behind
    embedded = EmbeddedPostgres(tmp_path)
    embedded.start()
    handles = tmp_path / "pgdata" / ".handle_pids.json"
    pids = json.loads(handles.read_text())
    handles.write_text(json.dumps([*pids, dead_pid]))
    postmaster = embedded._server.get_postmaster_info().process  # type: ignore[attr-defined]
    embedded.stop()
    # Stopped: gone, or a zombie its parent (this process) has not reaped yet.
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
