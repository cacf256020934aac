"""The service-desk programs, as setup.cfg installs them: ``iaso-servicedesk-notify`` (the
core's notification command), ``iaso-servicedesk-flush`` and ``iaso-servicedesk-sync`` (cron
jobs or core checks). Each lives in its own module."""
from .flush import flush
from .notify import notify
from .sync import sync

__all__ = ["flush", "notify", "sync"]
