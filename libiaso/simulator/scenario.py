"""A simulator scenario: what the simulated API does, as plain data with checked keys."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

COMPONENTS: Tuple[Tuple[str, str], ...] = (
    ("commserve", "internal"), ("media_agent_1", "internal"), ("media_agent_2", "internal"),
    ("index_db", "internal"), ("dedup_db", "internal"), ("object_storage", "external"),
    ("vcenter", "external"), ("inventory", "external"),
)
ROLES = ("life", "health", "login", "backup", "job_status", "restore", "vm_list", "job_list")
BODY_FAULTS = ("html", "malformed", "truncated", "empty", "list", "huge")
OUTCOMES = ("success", "warnings", "errors", "failed", "killed", "stuck", "pending",
            "failed_to_start", "refused")
PASSWORD_ENCODINGS = ("plain", "base64")
SHARES = ("failed", "stale", "never", "excluded")


class ScenarioError(ValueError):
    """A scenario that cannot be played, with the key at fault."""


@dataclass(frozen=True)
class EndpointFault:
    latency: float = 0.0
    status: Optional[int] = None
    acted: bool = False    # a non-2xx status answered after the endpoint did its work
    body: Any = None
    hang: bool = False
    redirect: Optional[str] = None
    redirect_status: int = 302
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
class InventoryFaults:
    """What goes wrong in the VM listing (docs/simulator.md, "Inventory faults")."""

    cut_at: Optional[int] = None        # the connection closes at this position of the listing
    overlap: int = 0                    # each page after the first starts this many VMs early
    repeat_pages: Tuple[int, ...] = ()  # these pages (1 = first) answer the page before again
    total_drift: int = 0                # each page's total is this much above the one before
    duplicates: int = 0                 # VMs listed twice
    future: int = 0                     # VMs whose last backup is in the future


@dataclass(frozen=True)
class InventorySpec:
    """A seeded fleet of VMs: the same seed, size and start give the same fleet."""

    size: int = 20
    seed: int = 1
    start: float = 0.0                  # epoch the fleet's history is anchored at
    backup_interval_hours: float = 24.0
    stale_hours: float = 48.0
    failed: float = 0.10                # shares of the fleet, each an exact count
    stale: float = 0.10
    never: float = 0.05
    excluded: float = 0.05
    groups: int = 8
    plans: int = 3
    companies: int = 2
    faults: InventoryFaults = InventoryFaults()

    def count(self, share: str) -> int:
        """The number of VMs of a share: rounded half up, so 0.05 of 10 is 1 VM."""
        return math.floor(getattr(self, share) * self.size + 0.5)


@dataclass(frozen=True)
class Scenario:
    username: str = "nagios"
    password: str = "simulator-password"
    password_encoding: Optional[str] = None   # None: the contract's (iaso plain, commvault base64)
    reject_logins: bool = False
    token_lifetime: float = 3600.0
    components: Mapping[str, str] = field(default_factory=dict)
    endpoints: Mapping[str, EndpointFault] = field(default_factory=dict)
    job_speed: float = 1.0
    job_duration: float = 60.0
    hosts: Mapping[str, HostPlan] = field(default_factory=dict)
    subclients: Mapping[str, str] = field(default_factory=dict)   # Commvault subclient id -> client
    clients: Mapping[str, str] = field(default_factory=dict)      # Commvault client id -> client
    inventory: InventorySpec = field(default_factory=lambda: inventory_from(None))

    def fault(self, role: str) -> EndpointFault:
        return self.endpoints.get(role, EndpointFault())

    def plan(self, hostname: str) -> HostPlan:
        return self.hosts.get(hostname, HostPlan())

    def client_of(self, subclient_id: str) -> str:
        """The client a Commvault subclient belongs to (``subclients:``; else ``client-<id>``)."""
        return self.subclients.get(subclient_id, f"client-{subclient_id}")

    def client_named(self, client_id: str) -> str:
        """The client of a Commvault client id (``clients:``; else ``client-<id>``)."""
        return self.clients.get(client_id, f"client-{client_id}")


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
        if not isinstance(state, str):
            raise ScenarioError(f"components.{name}: expected a status text")
    endpoints: Dict[str, EndpointFault] = {}
    for role, spec in _pop_mapping(data, "endpoints").items():
        if role not in ROLES:
            raise ScenarioError(f"endpoints.{role}: unknown endpoint; known: {', '.join(ROLES)}")
        fault = endpoints[role] = _build(EndpointFault, spec, f"endpoints.{role}")
        if not isinstance(fault.acted, bool):
            raise ScenarioError(f"endpoints.{role}.acted: expected true or false")
        if fault.acted and (fault.status is None or 200 <= fault.status < 300):
            raise ScenarioError(f"endpoints.{role}.acted: only with an error status "
                                "(the endpoint acts, then that status is answered)")
        body = endpoints[role].body
        if isinstance(body, str) and body not in BODY_FAULTS:
            raise ScenarioError(f"endpoints.{role}.body: expected one of {', '.join(BODY_FAULTS)}"
                                " or a mapping with json: or raw:")
    hosts: Dict[str, HostPlan] = {}
    for host, spec in _pop_mapping(data, "hosts").items():
        hosts[host] = _build(HostPlan, spec, f"hosts.{host}")
        if hosts[host].outcome not in OUTCOMES:
            raise ScenarioError(f"hosts.{host}.outcome: expected one of {', '.join(OUTCOMES)}")
    subclients: Dict[str, str] = {}
    for key, client in _pop_mapping(data, "subclients").items():
        if not str(key).isdigit() or not isinstance(client, str) or not client:
            raise ScenarioError(f"subclients.{key}: expected a subclient number and a client "
                                "name")
        subclients[str(int(key))] = client
    clients: Dict[str, str] = {}
    for key, client in _pop_mapping(data, "clients").items():
        if not str(key).isdigit() or not isinstance(client, str) or not client:
            raise ScenarioError(f"clients.{key}: expected a client number and a client name")
        clients[str(int(key))] = client
    inventory = inventory_from(data.pop("inventory", None))
    scalars = {k: data.pop(k) for k in list(data) if k in (
        "reject_logins", "token_lifetime", "job_speed", "job_duration")}
    if data:
        raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(data))}")
    login = {k: credentials.pop(k) for k in list(credentials)
             if k in ("username", "password", "password_encoding")}
    if credentials:
        raise ScenarioError(f"credentials: unknown keys: {', '.join(sorted(credentials))}")
    if login.get("password_encoding") not in (None, *PASSWORD_ENCODINGS):
        raise ScenarioError("credentials.password_encoding: expected plain or base64")
    return Scenario(components=dict(components), endpoints=endpoints, hosts=hosts,
                    subclients=subclients, clients=clients, inventory=inventory, **login, **scalars)


def inventory_from(data: Any) -> InventorySpec:
    """The fleet of ``inventory:``; without ``start``, its history is anchored at now."""
    spec = dict(data or {})
    if data is not None and not isinstance(data, dict):
        raise ScenarioError("inventory: expected a mapping")
    faults = _build(InventoryFaults, spec.pop("faults", None), "inventory.faults")
    repeat = faults.repeat_pages
    if isinstance(repeat, int) and not isinstance(repeat, bool):
        repeat = (repeat,)
    if not isinstance(repeat, (list, tuple)) or not all(
            _whole(page) and page >= 2 for page in repeat):
        raise ScenarioError("inventory.faults.repeat_pages: expected page numbers from 2")
    faults = InventoryFaults(**{**faults.__dict__, "repeat_pages": tuple(repeat)})
    for name in ("overlap", "total_drift", "duplicates", "future"):
        value = getattr(faults, name)
        if not _whole(value) or (value < 0 and name != "total_drift"):
            raise ScenarioError(f"inventory.faults.{name}: expected a whole number"
                                + ("" if name == "total_drift" else " from 0"))
    if faults.cut_at is not None and not (_whole(faults.cut_at) and faults.cut_at >= 0):
        raise ScenarioError("inventory.faults.cut_at: expected a listing position from 0")
    spec.setdefault("start", time.time())
    inventory = _build(InventorySpec, spec, "inventory")
    inventory = InventorySpec(**{**inventory.__dict__, "faults": faults})
    for name in ("size", "seed", "groups", "plans", "companies"):
        value = getattr(inventory, name)
        if not _whole(value) or value < (0 if name in ("size", "seed") else 1):
            raise ScenarioError(f"inventory.{name}: expected a whole number"
                                f" from {0 if name in ('size', 'seed') else 1}")
    for name in ("start", "backup_interval_hours", "stale_hours", *SHARES):
        value = getattr(inventory, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ScenarioError(f"inventory.{name}: expected a number from 0")
    if inventory.backup_interval_hours <= 0:
        raise ScenarioError("inventory.backup_interval_hours: expected a number above 0")
    if sum(getattr(inventory, share) for share in SHARES) > 1:
        raise ScenarioError(f"inventory: the shares {', '.join(SHARES)} add up to more than 1")
    healthy = inventory.size - sum(inventory.count(share) for share in SHARES)
    if faults.future > max(healthy, 0):
        raise ScenarioError(f"inventory.faults.future: {faults.future} VMs in the future, but "
                            f"only {max(healthy, 0)} are backed up as planned")
    return inventory


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    try:
        return cls(**spec)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
