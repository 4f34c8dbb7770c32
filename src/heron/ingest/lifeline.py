"""Decode worker processes die with the server, even when it is killed with SIGKILL.

A pool worker waits on its task queue forever; it holds that queue's pipe ends itself, so the
server's death alone never wakes it. Two independent ways out:

- a *lifeline*: a pipe whose only write end the server holds. The kernel closes it when the
  server process dies, however it dies, and a thread in each worker that reads from it sees
  end-of-file and exits the worker (portable);
- on Linux, ``PR_SET_PDEATHSIG``: the kernel sends the worker SIGKILL when the thread that
  started it ends (the server's event-loop thread, which lives as long as the server).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1


class Lifeline:
    """The server's end of the pipe; pass :attr:`worker_end` to each worker's initializer."""

    def __init__(self) -> None:
        self.worker_end, self._server_end = multiprocessing.Pipe(duplex=False)
        self.server_pid = os.getpid()

    def close(self) -> None:
        """Cut the line: every worker still attached exits."""
        self._server_end.close()
        self.worker_end.close()


def attach(worker_end: Connection, server_pid: int) -> None:
    """In a worker process: exit as soon as the server process is gone."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # the server died before the line was in place
        os._exit(1)
    threading.Thread(
        target=_exit_on_eof, args=(worker_end,), name="heron-lifeline", daemon=True
    ).start()


def _exit_on_eof(worker_end: Connection) -> None:
    while True:
        try:
            worker_end.recv_bytes()
        except (EOFError, OSError):
            os._exit(1)  # no cleanup: a worker holds nothing that needs it
