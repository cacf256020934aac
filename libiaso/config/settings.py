"""The configuration file: YAML in, frozen and validated objects out.

One file describes every IASO environment (lab, qualif, prod or any other name): where it is,
how to log in, how to trust its TLS, which proxy to use, how long to wait, and the API profile.
A ``defaults`` section is laid under every environment, so a site writes shared settings once.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigError
from .credentials import Credentials
from .profile import DEFAULT_PROFILE, ApiProfile, parse_profile
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


class RestoreTarget(NamedTuple):
    hostname: str
    file_name: str
    source_path: str
    destination: str


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


def read_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4 * 1024 * 1024)
    except FileNotFoundError:
        raise ConfigError("configuration file does not exist", path=path) from None
    except PermissionError:
        raise ConfigError("configuration file is not readable by this user", path=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a configuration file", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("configuration file is not UTF-8 text", path=path) from None
    except OSError as exc:
        raise ConfigError(f"configuration file cannot be read: {exc.strerror}", path=path) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"invalid YAML: {where}{exc.problem}", path=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None


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
    base_url = node.text("base_url").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise node.error(f"expected an http:// or https:// URL, got {base_url!r}", "base_url")
    if parts.username or parts.password:
        raise node.error("must not carry credentials; use the credentials section", "base_url")

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
    if proxy not in (PROXY_FROM_ENVIRONMENT, NO_PROXY) and urlsplit(proxy).scheme not in (
            "http", "https", "socks5", "socks5h"):
        raise node.error(f"expected 'environment', 'none' or a proxy URL, got {proxy!r}", "proxy")

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
            targets.append(BackupTarget(member_node.text("hostname"), member_node.text("level")))
            member_node.finish()
        backup_sets[set_name] = tuple(targets)
    restores_node = node.node("restores")
    restores: Dict[str, RestoreTarget] = {}
    for restore_name, _ in list(restores_node.items()):
        restore_node = restores_node.node(restore_name)
        restores[restore_name] = RestoreTarget(
            restore_node.text("hostname"), restore_node.text("file_name"),
            restore_node.text("source_path"), restore_node.text("destination"))
        restore_node.finish()

    profile_data = node.raw("profile", {}) or {}
    if not isinstance(profile_data, dict):
        raise node.error(f"expected a mapping, got {describe(profile_data)}", "profile")
    profile = parse_profile(Node(deep_merge(DEFAULT_PROFILE, profile_data), node.path,
                                 node.child_key("profile")))
    node.finish()
    return Environment(name=name, base_url=base_url, credentials=credentials, tls=tls,
                       proxy=proxy, timeouts=timeouts, max_body_bytes=max_body, profile=profile,
                       health_severity=severity, config_path=node.path, jobs=jobs,
                       backup_sets=backup_sets, restores=restores)


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
    if node.has("password"):
        raise node.error("passwords are not written in this file: use password_file or "
                         "password_env", "password")
    if bool(password_file) == bool(password_env):
        raise node.error("give exactly one of password_file and password_env")
    node.finish()
    return Credentials(username=username, password_file=password_file, password_env=password_env)


def _file(node: Node, key: str, base: str) -> Optional[str]:
    value = node.text(key, None)
    if value is None:
        return None
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

