"""A simulator scenario: what the simulated IASO does, as plain data with checked keys."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

COMPONENTS: Tuple[Tuple[str, str], ...] = (
    ("commserve", "internal"), ("media_agent_1", "internal"), ("media_agent_2", "internal"),
    ("index_db", "internal"), ("dedup_db", "internal"), ("object_storage", "external"),
    ("vcenter", "external"), ("inventory", "external"),
)
ROLES = ("life", "health", "login", "backup", "job_status", "restore")
BODY_FAULTS = ("html", "malformed", "truncated", "empty", "list", "huge")
OUTCOMES = ("success", "warnings", "errors", "failed", "killed", "stuck", "pending",
            "failed_to_start")


class ScenarioError(ValueError):
    """A scenario that cannot be played, with the key at fault."""


@dataclass(frozen=True)
class EndpointFault:
    latency: float = 0.0
    status: Optional[int] = None
    body: Any = None
    hang: bool = False
    redirect: Optional[str] = None
    content_type: Optional[str] = None
    huge_bytes: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class HostPlan:
    outcome: str = "success"
    at_percent: float = 100.0
    reason: Optional[str] = None
    invisible_polls: int = 0
    duration: Optional[float] = None


@dataclass(frozen=True)
class Scenario:
    username: str = "nagios"
    password: str = "simulator-password"
    password_encoding: str = "plain"
    reject_logins: bool = False
    token_lifetime: float = 3600.0
    components: Mapping[str, str] = field(default_factory=dict)
    endpoints: Mapping[str, EndpointFault] = field(default_factory=dict)
    job_speed: float = 1.0
    job_duration: float = 60.0
    hosts: Mapping[str, HostPlan] = field(default_factory=dict)

    def fault(self, role: str) -> EndpointFault:
        return self.endpoints.get(role, EndpointFault())

    def plan(self, hostname: str) -> HostPlan:
        return self.hosts.get(hostname, HostPlan())


def scenario_from(data: Any) -> Scenario:
    """Build a Scenario from a mapping (a YAML or JSON document); unknown keys are refused."""
    if data is None:
        return Scenario()
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping")
    data = dict(data)
    credentials = _pop_mapping(data, "credentials")
    components = _pop_mapping(data, "components")
    for name, state in components.items():
        if state not in ("healthy", "unhealthy") and not isinstance(state, str):
            raise ScenarioError(f"components.{name}: expected a status text")
    endpoints: Dict[str, EndpointFault] = {}
    for role, spec in _pop_mapping(data, "endpoints").items():
        if role not in ROLES:
            raise ScenarioError(f"endpoints.{role}: unknown endpoint; known: {', '.join(ROLES)}")
        endpoints[role] = _build(EndpointFault, spec, f"endpoints.{role}")
        body = endpoints[role].body
        if isinstance(body, str) and body not in BODY_FAULTS:
            raise ScenarioError(f"endpoints.{role}.body: expected one of {', '.join(BODY_FAULTS)}"
                                " or a mapping with json: or raw:")
    hosts: Dict[str, HostPlan] = {}
    for host, spec in _pop_mapping(data, "hosts").items():
        hosts[host] = _build(HostPlan, spec, f"hosts.{host}")
        if hosts[host].outcome not in OUTCOMES:
            raise ScenarioError(f"hosts.{host}.outcome: expected one of {', '.join(OUTCOMES)}")
    scalars = {k: data.pop(k) for k in list(data) if k in (
        "reject_logins", "token_lifetime", "job_speed", "job_duration")}
    if data:
        raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(data))}")
    login = {k: credentials.pop(k) for k in list(credentials)
             if k in ("username", "password", "password_encoding")}
    if credentials:
        raise ScenarioError(f"credentials: unknown keys: {', '.join(sorted(credentials))}")
    return Scenario(components=dict(components), endpoints=endpoints, hosts=hosts,
                    **login, **scalars)


def _pop_mapping(data: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = data.pop(key, None) or {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{key}: expected a mapping")
    return dict(value)


def _build(cls: Any, spec: Any, where: str) -> Any:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    known = set(cls.__dataclass_fields__)
    unknown = set(spec) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown keys: {', '.join(sorted(unknown))}")
    return cls(**spec)
