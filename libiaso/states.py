"""The one mapping from an exception to a Nagios state (docs/state-policy.md).

Whatever the supervised API does wrong is CRITICAL: it is what the operator must act on.
Whatever is wrong on our side (usage, configuration, an interrupted probe, a bug) is UNKNOWN:
the check could not say anything about the API. WARNING only ever comes from thresholds and
from severities configured per component, never from this table.
"""
from __future__ import annotations

from nagiosplugin.state import Critical, ServiceState, Unknown

from .errors import ServiceError


def state_for(exc: BaseException) -> ServiceState:
    if isinstance(exc, ServiceError):
        return Critical
    return Unknown
