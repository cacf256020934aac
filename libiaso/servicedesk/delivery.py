"""How one notification reaches the configured desk: RT's REST API, or a mail handed to
sendmail; no exchange outlives the run's own end."""
from __future__ import annotations

import time
from typing import List

from . import mail
from .notification import Notification
from .rt_rest import RtRest
from .settings import DeskSettings


class Delivery:
    def __init__(self, settings: DeskSettings, until: float) -> None:
        self.settings = settings
        self.until = until
        self.rest = (RtRest(settings.rest, settings.request_timeout, until=until)
                     if settings.rest is not None else None)

    def __call__(self, notification: Notification) -> object:
        if self.rest is not None:
            return self.rest.deliver(notification)
        assert self.settings.mail is not None
        remaining = self.until - time.monotonic()
        mail.send(notification, self.settings.mail,
                  min(self.settings.request_timeout, max(0.1, remaining)))
        return None

    @property
    def warnings(self) -> List[str]:
        return self.rest.warnings if self.rest is not None else []
