"""The configuration file: YAML in, frozen and validated objects out.

One file describes every IASO environment (lab, qualif, prod or any other name): where it is,
how to log in, how to trust its TLS, which proxy to use, how long to wait, and the API profile.
A ``defaults`` section is laid under every environment, so a site writes shared settings once.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigError
from .credentials import Credentials, read_regular_file
from .fleet_settings import FleetSettings, parse_fleet
from .profile import ApiProfile, parse_profile, profile_document, target_calls
from .schema import Node, deep_merge, describe

DEFAULT_PATH = "/etc/iaso-probes/iaso.yaml"
PATH_VARIABLE = "IASO_PROBES_CONFIG"
SEVERITIES = ("warning", "critical")
PROXY_FROM_ENVIRONMENT = "environment"
NO_PROXY = "none"
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


class TlsSettings(NamedTuple):
    """Server verification (on unless switched off) and an optional client certificate."""

    verify: bool = True
    ca_bundle: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None


class Timeouts(NamedTuple):
    """Per-request limits in seconds; the probe's own -t deadline caps both."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


class JobSettings(NamedTuple):
    """How backup and restore jobs are launched, followed and judged."""

    state_dir: str = "/var/lib/iaso-probes"
    poll_interval: float = 10.0
    max_poll_interval: float = 60.0
    pool_size: int = 8
    stall_warning: float = 1800.0
    stall_critical: float = 3600.0
    pending_warning: float = 900.0
    backup_interval: float = 86400.0
    restore_interval: float = 86400.0
    outcomes: Mapping[str, str] = {}


class BackupTarget(NamedTuple):
    hostname: str
    level: str
    params: Mapping[str, Any] = {}   # what the profile's backup call needs beyond host and level


class RestoreTarget(NamedTuple):
    hostname: str
    file_name: str
    source_path: str
    destination: str
    params: Mapping[str, Any] = {}


class Environment(NamedTuple):
    """One IASO deployment as a probe sees it."""

    name: str
    base_url: str
    credentials: Optional[Credentials]
    tls: TlsSettings
    proxy: str
    timeouts: Timeouts
    max_body_bytes: int
    profile: ApiProfile
    health_severity: Mapping[str, str]
    config_path: str
    jobs: JobSettings
    backup_sets: Mapping[str, Tuple[BackupTarget, ...]]
    restores: Mapping[str, RestoreTarget]
    fleet: FleetSettings = FleetSettings()


class LogSettings(NamedTuple):
    """Where a run leaves its traces: the JSON results log and the application log."""

    results: Optional[str] = None
    application: Optional[str] = None
    level: str = "warning"


class Config(NamedTuple):
    path: str
    environments: Mapping[str, Environment]
    logging: LogSettings = LogSettings()

    def environment(self, name: Optional[str]) -> Environment:
        """The environment named on the command line, or the only one the file has."""
        if name is None:
            if len(self.environments) == 1:
                return next(iter(self.environments.values()))
            names = ", ".join(self.environments)
            raise ConfigError(f"several environments are configured ({names}); "
                              "choose one with -E/--env", path=self.path)
        try:
            return self.environments[name]
        except KeyError:
            raise ConfigError(f"unknown environment {name!r}; configured: "
                              f"{', '.join(self.environments) or 'none'}", path=self.path) from None


def default_path() -> str:
    return os.environ.get(PATH_VARIABLE) or DEFAULT_PATH


def load_config(path: str) -> Config:
    """Read and validate the file at ``path``; every problem is a ``ConfigError`` naming it."""
    from . import document_cache

    stamp = document_cache.stamp_of(path)
    document = document_cache.load(path, stamp) if stamp else document_cache.MISS
    if document is document_cache.MISS:
        document = read_yaml(path)
        if stamp:
            document_cache.store(path, stamp, document)
    return parse_config(document, path)


CONFIG_SIZE_LIMIT = 4 * 1024 * 1024
EXPANDED_NODE_LIMIT = 100_000


def read_yaml(path: str) -> Any:
    """The YAML document at ``path``, refused if it is not a bounded, regular UTF-8 file or if
    its aliases would expand it beyond ``EXPANDED_NODE_LIMIT`` nodes (a "billion laughs")."""
    import yaml

    try:
        raw, _ = read_regular_file(path, CONFIG_SIZE_LIMIT + 1, "configuration file")
    except ConfigError as exc:
        raise ConfigError(exc.message.replace(f" {path}", ""), path=path) from None
    if len(raw) > CONFIG_SIZE_LIMIT:
        raise ConfigError(f"configuration file is larger than {CONFIG_SIZE_LIMIT} bytes",
                          path=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("configuration file is not UTF-8 text", path=path) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, EXPANDED_NODE_LIMIT)
        if expanded > EXPANDED_NODE_LIMIT:
            raise ConfigError(f"the document's aliases expand it to more than "
                              f"{EXPANDED_NODE_LIMIT} values; refused", path=path)
        _check_shape(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"invalid YAML: {where}{exc.problem}", path=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", path=path) from None
    finally:
        loader.dispose()


NESTING_LIMIT = 32


def _check_shape(root: Any, path: str) -> None:
    """Refuse a key given twice in one mapping (YAML 1.2 requires unique keys; PyYAML would
    silently keep the last, so a second ``base_url`` could send the login elsewhere) and a
    document nested deeper than any configuration needs."""
    import yaml

    seen: set = set()
    pending: List[Tuple[Any, int, str]] = [(root, 0, "")]
    while pending:
        node, depth, where = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth > NESTING_LIMIT:
            raise ConfigError(f"nested more than {NESTING_LIMIT} levels deep (at {where})",
                              path=path)
        if isinstance(node, yaml.MappingNode):
            keys: set = set()
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name is not None and name != "<<":
                    if (key.tag, name) in keys:
                        line = key.start_mark.line + 1
                        raise ConfigError(f"key {name!r} is given twice in one mapping (line "
                                          f"{line}); YAML keys must be unique", path=path,
                                          key=f"{where}.{name}".lstrip(".") or None)
                    keys.add((key.tag, name))
                child = f"{where}.{name}" if name is not None else where
                pending.append((value, depth + 1, child))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, depth + 1, f"{where}.{index}")
                           for index, item in enumerate(node.value))


def _expanded_size(root: Any, limit: int) -> int:
    """How many nodes the document has once every alias is expanded; stops past ``limit``.

    Aliases share composed nodes, so sizes are computed once per node (an alias chain that
    doubles at each level is counted, not walked). A cycle (a recursive alias) counts as over.
    """
    import yaml

    sizes: Dict[int, int] = {}
    pending: List[Tuple[Any, bool]] = [(root, False)]
    open_nodes: set = set()
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        else:
            sizes[key] = 1
            continue
        if not children_done:
            if key in open_nodes:
                return limit + 1
            open_nodes.add(key)
            pending.append((node, True))
            pending.extend((child, False) for child in children if id(child) not in sizes)
            continue
        if any(id(child) not in sizes for child in children):
            return limit + 1   # a child still open: the document refers to itself
        open_nodes.discard(key)
        sizes[key] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
    return sizes[id(root)]


def parse_config(data: Any, path: str) -> Config:
    if data is None:
        raise ConfigError("configuration file is empty", path=path)
    root = Node(data, path)
    defaults = root.raw("defaults", {}) or {}
    if not isinstance(defaults, dict):
        raise root.error(f"expected a mapping, got {describe(defaults)}", "defaults")
    envs_node = Node(root.raw("environments"), path, "environments")
    environments: Dict[str, Environment] = {}
    for name, raw in envs_node.items():
        if not isinstance(raw, dict):
            raise envs_node.error(f"expected a mapping, got {describe(raw)}", name)
        merged = deep_merge(defaults, raw)
        environments[name] = _parse_environment(Node(merged, path, f"environments.{name}"), name)
    if not environments:
        raise envs_node.error("no environment is configured")
    log_node = root.node("logging")
    base = os.path.dirname(os.path.abspath(path))
    settings = LogSettings(results=_file(log_node, "results", base),
                           application=_file(log_node, "application", base),
                           level=log_node.text("level", "warning", choices=LOG_LEVELS))
    log_node.finish()
    root.finish()
    return Config(path=path, environments=environments, logging=settings)


def _parse_environment(node: Node, name: str) -> Environment:
    base = os.path.dirname(os.path.abspath(node.path))
    base_url = _url(node, "base_url", ("http", "https")).rstrip("/")
    parts = urlsplit(base_url)
    if parts.username or parts.password or "@" in parts.netloc:
        raise node.error("must not carry credentials; use the credentials section", "base_url")
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise node.error("must not carry a query or a fragment (paths and queries are the "
                         "profile's)", "base_url")

    credentials = None
    if node.has("credentials"):
        credentials = _parse_credentials(node.node("credentials"), base)

    tls_node = node.node("tls")
    tls = TlsSettings(
        verify=tls_node.flag("verify", True),
        ca_bundle=_file(tls_node, "ca_bundle", base),
        client_cert=_file(tls_node, "client_cert", base),
        client_key=_file(tls_node, "client_key", base),
    )
    if tls.client_key and not tls.client_cert:
        raise tls_node.error("client_key needs client_cert", "client_key")
    tls_node.finish()

    proxy = node.text("proxy", PROXY_FROM_ENVIRONMENT)
    if proxy not in (PROXY_FROM_ENVIRONMENT, NO_PROXY):
        proxy = _url(node, "proxy", ("http", "https", "socks5", "socks5h"),
                     "'environment', 'none' or a proxy URL")

    timeouts_node = node.node("timeouts")
    timeouts = Timeouts(connect=timeouts_node.number("connect", DEFAULT_CONNECT_TIMEOUT),
                        read=timeouts_node.number("read", DEFAULT_READ_TIMEOUT))
    timeouts_node.finish()

    max_body = node.number("max_body_bytes", 1024 * 1024, minimum=1024, exclusive=False,
                           integer=True)

    severity_node = node.node("health_severity")
    severity: Dict[str, str] = {}
    for component, value in severity_node.items():
        if value not in SEVERITIES:
            raise severity_node.error(f"expected warning or critical, got {describe(value)}",
                                      component)
        severity[component] = value

    jobs = _parse_jobs(node.node("jobs"), base)
    backup_sets_node = node.node("backup_sets")
    backup_sets: Dict[str, Tuple[BackupTarget, ...]] = {}
    for set_name, members in backup_sets_node.items():
        if not isinstance(members, list) or not members:
            raise backup_sets_node.error("expected a non-empty list of {hostname, level}",
                                         set_name)
        targets = []
        for index, member in enumerate(members):
            member_node = Node(member, node.path, f"{backup_sets_node.child_key(set_name)}.{index}")
            targets.append(BackupTarget(member_node.text("hostname"), member_node.text("level"),
                                        _params(member_node)))
            member_node.finish()
        backup_sets[set_name] = tuple(targets)
    restores_node = node.node("restores")
    restores: Dict[str, RestoreTarget] = {}
    for restore_name, _ in list(restores_node.items()):
        restore_node = restores_node.node(restore_name)
        restores[restore_name] = RestoreTarget(
            restore_node.text("hostname"), restore_node.text("file_name"),
            restore_node.text("source_path"), restore_node.text("destination"),
            _params(restore_node))
        restore_node.finish()

    site_profile = node.raw("profile", None)
    document, version = profile_document(site_profile, node)
    profile = parse_profile(Node(document, node.path, node.child_key("profile")), version)
    site_endpoints = site_profile.get("endpoints") if isinstance(site_profile, dict) else None
    if isinstance(site_endpoints, dict):
        profile = profile._replace(written=tuple(site_endpoints))
    _check_target_parameters(node, profile, backup_sets, restores)
    fleet = parse_fleet(node.node("fleet"), base, jobs.state_dir)
    node.finish()
    return Environment(name=name, base_url=base_url, credentials=credentials, tls=tls,
                       proxy=proxy, timeouts=timeouts, max_body_bytes=max_body, profile=profile,
                       health_severity=severity, config_path=node.path, jobs=jobs,
                       backup_sets=backup_sets, restores=restores, fleet=fleet)


OUTCOME_CATEGORIES = ("ok", "warning", "critical", "running", "waiting")


def _parse_jobs(node: Node, base: str) -> JobSettings:
    defaults = JobSettings()
    outcomes_node = node.node("outcomes")
    outcomes: Dict[str, str] = {}
    for status, category in outcomes_node.items():
        if category not in OUTCOME_CATEGORIES:
            raise outcomes_node.error(f"expected one of {', '.join(OUTCOME_CATEGORIES)}, got "
                                      f"{describe(category)}", status)
        outcomes[status] = category
    settings = JobSettings(
        state_dir=os.path.normpath(os.path.join(base, node.text("state_dir",
                                                                defaults.state_dir))),
        poll_interval=node.number("poll_interval", defaults.poll_interval),
        max_poll_interval=node.number("max_poll_interval", defaults.max_poll_interval),
        pool_size=node.number("pool_size", defaults.pool_size, minimum=1, exclusive=False,
                              integer=True),
        stall_warning=node.number("stall_warning", defaults.stall_warning),
        stall_critical=node.number("stall_critical", defaults.stall_critical),
        pending_warning=node.number("pending_warning", defaults.pending_warning),
        backup_interval=node.number("backup_interval", defaults.backup_interval),
        restore_interval=node.number("restore_interval", defaults.restore_interval),
        outcomes=outcomes,
    )
    if settings.max_poll_interval < settings.poll_interval:
        raise node.error("must not be below poll_interval", "max_poll_interval")
    if settings.stall_critical < settings.stall_warning:
        raise node.error("must not be below stall_warning", "stall_critical")
    node.finish()
    return settings


def _parse_credentials(node: Node, base: str) -> Credentials:
    username = node.text("username")
    password_file = _file(node, "password_file", base)
    password_env = node.text("password_env", None)
    if password_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", password_env):
        raise node.error("must name an environment variable (letters, digits and _), "
                         "not hold the password itself", "password_env")
    if node.has("password"):
        raise node.error("passwords are not written in this file: use password_file or "
                         "password_env", "password")
    if bool(password_file) == bool(password_env):
        raise node.error("give exactly one of password_file and password_env")
    node.finish()
    return Credentials(username=username, password_file=password_file, password_env=password_env)


def _params(node: Node) -> Dict[str, Any]:
    """A target's extra request parameters (``params:``): texts or whole numbers, kept so
    (a body template ``"{subclient_id}"`` sends the number as a number)."""
    params_node = node.node("params", {})
    params: Dict[str, Any] = {}
    for name, value in params_node.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise params_node.error(f"expected a text or a whole number, got {describe(value)}",
                                    name)
        params[name] = value
    return params


def _check_target_parameters(node: Node, profile: ApiProfile,
                             backup_sets: Mapping[str, Tuple[BackupTarget, ...]],
                             restores: Mapping[str, RestoreTarget]) -> None:
    """Every configured target carries what its endpoint's templates name (found now, not as a
    failed call in the middle of the night)."""
    for role, targets in (("backup", [(f"backup_sets.{name}.{index}", target)
                                      for name, members in backup_sets.items()
                                      for index, target in enumerate(members)]),
                          ("restore", [(f"restores.{name}", target)
                                       for name, target in restores.items()])):
        if role not in profile.endpoints:
            continue
        calls = target_calls(profile, role)
        for where, target in targets:
            for call, needed in calls:
                missing = [p for p in needed if p not in target.params]
                if missing:
                    raise node.error(f"the profile's {call} needs params: "
                                     f"{', '.join(missing)}", f"{where}.params")


def _url(node: Node, key: str, schemes: Tuple[str, ...], expected: str = "") -> str:
    """An absolute URL of one of ``schemes`` with a host, written plainly: no whitespace or
    control character anywhere (a trailing newline from a careless paste included)."""
    value = node.text(key)
    shown = shown_url(value)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7f or c == "\\" for c in value):
        raise node.error("holds a space, a control character or a backslash", key)
    what = expected or "an " + " or ".join(f"{s}://" for s in schemes) + " URL"
    try:
        parts = urlsplit(value)
        if parts.scheme in schemes and parts.hostname and (parts.port or True):
            return value
    except ValueError:
        pass
    raise node.error(f"expected {what}, got {shown!r}", key)


def shown_url(url: str) -> str:
    """A URL as configuration messages may quote it: any userinfo replaced by ``***@``."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "***" if "@" in url else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def _file(node: Node, key: str, base: str) -> Optional[str]:
    value = node.text(key, None)
    if value is None:
        return None
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

