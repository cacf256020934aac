"""Notifications that came while the configuration could not be read.

The notification command must not lose a notification because its configuration file is
broken (a typo in an edit, a file left unreadable): the core never sends it again, and says
nothing of a failed command. Without a configuration the spool's place is unknown, so the
notification is kept, as the core passed it (``intake.Intake``), in ``held/`` under the default
spool directory, written atomically, with the configuration file it was meant for. The first
run of notify, flush or sync that can read that file settles what is held for it into the
configured spool, in the core's order (the spool's file names order by the core's time), where
it is delivered like any other. A run with another file (a second core on the machine) leaves
it alone: its origin and its desk are the other file's.
"""
from __future__ import annotations

import os
import time
from typing import Callable, List, Optional

from ..errors import ConfigError
from ..local_files import LocalFileError, read_regular
from . import settings as desk_settings
from .intake import Intake, configuration_key
from .notification import Action
from .settings import DeskSettings
from .spool import SPOOL_FILE_LIMIT, Spool, reason_of, write_whole

Say = Callable[[str], None]


class Held:
    """The ``held/`` directory of the default spool."""

    def __init__(self, directory: Optional[str] = None) -> None:
        self.directory = os.path.join(directory or desk_settings.default_spool(), "held")
        self._count = 0

    def keep(self, intake: Intake) -> str:
        """Write ``intake`` durably; returns its file's path (OSError if it cannot be)."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._count += 1
        name = f"{time.time_ns():020d}-{os.getpid():07d}-{self._count:04d}.json"
        return write_whole(self.directory, name, intake.to_json().encode("utf-8"))

    def waiting(self) -> List[str]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".json"))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [os.path.join(self.directory, name) for name in names]

    def settle(self, config: Optional[str], settings: DeskSettings, spool: Spool,
               until: float, say: Say, monotonic: Callable[[], float] = time.monotonic) -> int:
        """Move every notification held for the configuration file ``config`` into ``spool``
        as ``settings`` make it, before the monotonic time ``until``; returns how many stay
        held (for another configuration, or for want of time). One that cannot be read, or
        whose origin is not a name, is set aside in the spool's ``rejected/`` for a person."""
        mine = configuration_key(config)
        left = 0
        for path in self.waiting():
            if monotonic() >= until:
                left += 1
                continue
            name = os.path.basename(path)
            data = b""
            try:
                data, _ = read_regular(path, SPOOL_FILE_LIMIT + 1)
                if len(data) > SPOOL_FILE_LIMIT:
                    raise ValueError("held file larger than its bound")
                intake = Intake.from_json(data.decode("utf-8"))
                if intake.config != mine:
                    left += 1
                    continue
                notification = intake.notification(settings)
            except (ValueError, ConfigError, LocalFileError) as exc:
                spool.keep_rejected("held-" + name, data)
                os.unlink(path)
                say(f"held {name} set aside in {spool.rejected}: {reason_of(exc)}")
                continue
            if notification.action is Action.NONE:
                say(f"held {name}: {notification.kind} {notification.object_name} concerns "
                    f"no open problem: no ticket")
            else:
                spool.put(notification)
                say(f"held {name} spooled: {notification.kind} {notification.object_name} "
                    f"[{notification.key or '-'}] {notification.notification_id}")
            os.unlink(path)
        return left
