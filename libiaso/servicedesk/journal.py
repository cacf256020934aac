"""What a run of the bridge did, one line per event: on stderr (a core may log it), and appended
to the configured journal file, since Nagios keeps no notification command's output.

Each event is one line whatever it quotes (a host name, a desk's error text): line breaks and
control characters become spaces, so no text can forge a line of its own. The file is opened
without blocking and only if it is a regular file (or a device such as /dev/null): a FIFO named
by mistake must not hang the core's notification command. A journal that cannot be written is
said once on stderr; the run goes on.
"""
from __future__ import annotations

import errno
import os
import time
from typing import Optional

import click

from ..local_files import open_regular
from .single_line import one_line

LINE_LIMIT = 4000


class Journal:
    def __init__(self, path: Optional[str], program: str, loud: bool = True) -> None:
        self.path = path
        self.program = program
        self.loud = loud
        self.problem = ""          # why the file could not be written, once it could not

    def quiet(self) -> Journal:
        """The same journal, silent on stderr."""
        return Journal(self.path, self.program, loud=False)

    def __call__(self, line: str, loud: Optional[bool] = None) -> None:
        line = one_line(line)[:LINE_LIMIT]
        if self.loud if loud is None else loud:
            click.echo(f"{self.program}: {line}", err=True)
        if not self.path or self.problem:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = f"{stamp} {self.program}[{os.getpid()}] {line}\n".encode("utf-8", "replace")
        try:
            fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                              devices=True)
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
        except OSError as exc:
            # A FIFO without a reader refuses a non-blocking open for writing with ENXIO.
            reason = "is not a regular file" if exc.errno == errno.ENXIO else exc.strerror
            self.problem = f"journal {self.path} cannot be written: {reason or exc}"
            click.echo(f"{self.program}: {self.problem}", err=True)
