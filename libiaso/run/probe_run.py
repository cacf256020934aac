"""What a probe's body works with: its options, environment, deadline and one API client."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import nagiosplugin

from ..config.settings import Environment
from ..deadline import Deadline
from ..redaction import Redactor


class CommonOptions(NamedTuple):
    config_path: str
    env_name: Optional[str]
    timeout: float
    warning: Optional[nagiosplugin.Range]
    critical: Optional[nagiosplugin.Range]
    verbosity: int


class ProbeRun:
    """What a probe's body works with: options, environment, deadline and a client."""

    def __init__(self, options: CommonOptions, environment: Environment, deadline: Deadline,
                 redactor: Redactor) -> None:
        self.options = options
        self.environment = environment
        self.deadline = deadline
        self.redactor = redactor
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The run's one ``IasoClient`` (created on first use: life needs no login)."""
        if self._client is None:
            from ..api.client import IasoClient

            self._client = IasoClient(self.environment, self.deadline, self.redactor)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def time_context(self, name: str, words: str = "response time") -> nagiosplugin.ScalarContext:
        """A context judging seconds against -w/-c."""
        return nagiosplugin.ScalarContext(name, self.options.warning, self.options.critical,
                                          fmt_metric=words + " {value:.3f} s")
