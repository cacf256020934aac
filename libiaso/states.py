"""The one state vocabulary of iaso-probes, and the one mapping from a failure to a state.

Every module speaks of states as ``State`` (an ``int`` equal to the plugin's exit code); the
names printed on the status line, written to the results log and shown by iaso-report come from
here, and so does the conversion to nagiosplugin's own state objects.

Whatever the supervised API does wrong is CRITICAL: it is what the operator must act on.
Whatever is wrong on our side (usage, configuration, an interrupted probe, a bug) is UNKNOWN:
the check could not say anything about the API. WARNING comes from thresholds, configured
severities and the job rules of docs/state-policy.md, never from this exception table.
"""
from __future__ import annotations

from enum import IntEnum

from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from .errors import ServiceError


class State(IntEnum):
    """A Nagios state; its value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def nagios(self) -> ServiceState:
        """The same state as nagiosplugin's object, for Results."""
        return _NAGIOS[self.value]

    @classmethod
    def of(cls, state: object) -> State:
        """A ``State`` from an exit code, a nagiosplugin state or a state name."""
        if isinstance(state, str):
            return cls[state.upper()]
        return cls(int(state))  # type: ignore[call-overload]



_NAGIOS = (Ok, Warn, Critical, Unknown)


def state_for(exc: BaseException) -> State:
    """The state a failure earns: the service's fault is CRITICAL, anything else UNKNOWN."""
    if isinstance(exc, ServiceError):
        return State.CRITICAL
    return State.UNKNOWN
