"""The ``fleet:`` section of an environment: how every VM's last good backup is judged, and where
the passive results go (docs/probes/check_iaso_fleet.md, "Configuration").

Thresholds are hours of backup age, WARNING and CRITICAL, for the whole fleet and per group;
the other classes of VM (never backed up, last backup ended with errors, unprotected, excluded)
each get a severity: critical, warning or ignore (counted, never alerting). Delivery names one
route into the core: the Nagios/Naemon check-results spool directory, the external command file,
or Icinga 2's REST API.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from .credentials import Credentials
from .schema import Node, describe

SEVERITIES = ("critical", "warning", "ignore")
GROUP_FIELDS = ("group", "plan", "company")   # vm_list fields a fleet may be grouped by
ROUTES = ("none", "spool", "command_file", "icinga2")
HOST_MATCHES = ("name", "short")
WORD_CLASSES = ("failed", "excluded", "unprotected", "protected")
NAME_LIMIT = 128


class GroupRule(NamedTuple):
    """How the VMs of one group are judged (the fleet's rule, or a group's override of it)."""

    warning_hours: float = 30.0
    critical_hours: float = 48.0
    never: str = "critical"
    failed: str = "warning"
    unprotected: str = "ignore"
    excluded: str = "ignore"


class Icinga2Settings(NamedTuple):
    """Icinga 2's REST API: where, how its certificate is trusted, who we are there."""

    url: str
    credentials: Credentials
    ca_file: Optional[str] = None
    concurrency: int = 4
    timeout: float = 10.0


class PerVmSettings(NamedTuple):
    """One passive result per VM that exists as a host in the core."""

    service: str = "IASO backup freshness"
    hosts_file: Optional[str] = None
    objects_cache: Optional[str] = None
    match: str = "name"
    refresh_minutes: float = 60.0


class DeliverySettings(NamedTuple):
    route: str = "none"
    spool_dir: Optional[str] = None
    command_file: Optional[str] = None
    icinga2: Optional[Icinga2Settings] = None
    host: Optional[str] = None            # the core's host of the group services
    service_prefix: str = "IASO fleet "
    per_vm: Optional[PerVmSettings] = None

    def host_for(self, environment: str) -> str:
        return self.host or f"iaso-fleet-{environment}"


class FleetSettings(NamedTuple):
    rule: GroupRule = GroupRule()
    groups: Mapping[str, GroupRule] = {}
    group_by: str = "group"
    words: Mapping[str, Tuple[str, ...]] = {}
    future_tolerance: float = 900.0
    max_vms: int = 250_000
    max_groups: int = 500
    max_listing_bytes: int = 512 * 1024 * 1024
    state_dir: str = "/var/lib/iaso-probes"
    full_resync_hours: float = 24.0
    since_overlap: float = 900.0
    restarts: int = 1
    delivery: DeliverySettings = DeliverySettings()

    def rule_for(self, group: str) -> GroupRule:
        return self.groups.get(group, self.rule)


def parse_fleet(node: Node, base: str, state_dir: str) -> FleetSettings:
    """The environment's ``fleet`` section (every key optional); relative paths are relative to
    the configuration file's directory, ``state_dir`` defaults to the jobs' one."""
    defaults = FleetSettings()
    rule = _rule(node, GroupRule())
    groups_node = node.node("groups")
    groups: Dict[str, GroupRule] = {}
    for name, _ in list(groups_node.items()):
        groups[str(name)] = _rule(groups_node.node(name), rule, whole=True)
    words_node = node.node("words")
    words: Dict[str, Tuple[str, ...]] = {}
    for kind in WORD_CLASSES:
        if words_node.has(kind):
            words[kind] = words_node.text_list(kind)
            blank = [w for w in words[kind] if not re.search(r"[^\W_]", w)]
            if blank:   # words are compared on their letters and digits alone
                raise words_node.error(f"{blank[0]!r} holds no letter or digit", kind)
    words_node.finish()
    settings = FleetSettings(
        rule=rule, groups=groups,
        group_by=node.text("group_by", defaults.group_by, choices=GROUP_FIELDS),
        words=words,
        future_tolerance=node.number("future_tolerance", defaults.future_tolerance,
                                     exclusive=False),
        max_vms=node.number("max_vms", defaults.max_vms, minimum=1, exclusive=False,
                            integer=True),
        max_groups=node.number("max_groups", defaults.max_groups, minimum=1, exclusive=False,
                               integer=True),
        max_listing_bytes=node.number("max_listing_bytes", defaults.max_listing_bytes,
                                      minimum=1024, exclusive=False, integer=True,
                                      maximum=64 * 1024 ** 3),
        state_dir=_path(node, "state_dir", base) or state_dir,
        full_resync_hours=node.number("full_resync_hours", defaults.full_resync_hours),
        since_overlap=node.number("since_overlap", defaults.since_overlap, exclusive=False),
        restarts=node.number("restarts", defaults.restarts, exclusive=False, integer=True),
        delivery=_delivery(node.node("delivery"), base),
    )
    node.finish()
    return settings


def _rule(node: Node, inherited: GroupRule, whole: bool = False) -> GroupRule:
    """A rule read from ``node``, each key absent taken from ``inherited``."""
    rule = GroupRule(
        warning_hours=node.number("warning_hours", inherited.warning_hours),
        critical_hours=node.number("critical_hours", inherited.critical_hours),
        never=node.text("never", inherited.never, choices=SEVERITIES),
        failed=node.text("failed", inherited.failed, choices=SEVERITIES),
        unprotected=node.text("unprotected", inherited.unprotected, choices=SEVERITIES),
        excluded=node.text("excluded", inherited.excluded, choices=SEVERITIES),
    )
    if rule.critical_hours < rule.warning_hours:
        raise node.error(f"critical_hours ({rule.critical_hours:g}) is below warning_hours "
                         f"({rule.warning_hours:g})")
    if whole:
        node.finish()
    return rule


def _delivery(node: Node, base: str) -> DeliverySettings:
    route = node.text("route", "none", choices=ROUTES)
    spool_dir = _path(node, "spool_dir", base)
    command_file = _path(node, "command_file", base)
    icinga2 = _icinga2(node.node("icinga2"), base) if node.has("icinga2") else None
    node.raw("icinga2", None)
    host = node.text("host", None)
    if host is not None:
        host = core_name(node, "host", host)
    prefix = node.raw("service_prefix", "IASO fleet ")
    if not isinstance(prefix, str) or not prefix.strip():
        raise node.error(f"expected a non-empty text, got {describe(prefix)}", "service_prefix")
    if not prefix.isprintable():     # a YAML block scalar ends with a newline
        raise node.error(f"{prefix[:40]!r} holds a control character or an unusual space",
                         "service_prefix")
    core_name(node, "service_prefix", prefix.strip())
    per_vm = None
    if node.has("per_vm"):
        per_vm = _per_vm(node.node("per_vm"), base)
    node.raw("per_vm", None)
    needed = {"spool": ("spool_dir", spool_dir), "command_file": ("command_file", command_file),
              "icinga2": ("icinga2", icinga2)}.get(route)
    if needed is not None and needed[1] is None:
        raise node.error(f"route {route} needs {needed[0]}", needed[0])
    node.finish()
    return DeliverySettings(route=route, spool_dir=spool_dir, command_file=command_file,
                            icinga2=icinga2, host=host, service_prefix=prefix, per_vm=per_vm)


def _per_vm(node: Node, base: str) -> PerVmSettings:
    defaults = PerVmSettings()
    service = core_name(node, "service", node.text("service", defaults.service))
    hosts_file = _path(node, "hosts_file", base)
    objects_cache = _path(node, "objects_cache", base)
    if bool(hosts_file) == bool(objects_cache):
        raise node.error("give exactly one of hosts_file and objects_cache: the VMs that are "
                         "hosts in the core")
    settings = PerVmSettings(
        service=service, hosts_file=hosts_file, objects_cache=objects_cache,
        match=node.text("match", defaults.match, choices=HOST_MATCHES),
        refresh_minutes=node.number("refresh_minutes", defaults.refresh_minutes,
                                    exclusive=False))
    node.finish()
    return settings


def _icinga2(node: Node, base: str) -> Icinga2Settings:
    url = node.text("url").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise node.error("expected an https:// URL without credentials (the API listener)",
                         "url")
    username = node.text("username")
    password_file = _path(node, "password_file", base)
    if password_file is None:
        raise node.error("is required (the API user's password, first line of a file)",
                         "password_file")
    if node.has("password"):
        raise node.error("passwords are not written in this file: use password_file",
                         "password")
    settings = Icinga2Settings(
        url=url, credentials=Credentials(username=username, password_file=password_file),
        ca_file=_path(node, "ca_file", base),
        concurrency=node.number("concurrency", 4, minimum=1, exclusive=False, integer=True),
        timeout=node.number("timeout", 10.0))
    if settings.concurrency > 16:
        raise node.error("at most 16 connections: the API serialises results per object "
                         "anyway", "concurrency")
    node.finish()
    return settings


# Nagios's default illegal_object_name_chars, the separators of its command and check-result
# formats, and Icinga 2's host!service separator.
FORBIDDEN_IN_NAMES = "`~!$%^&*|'\"<>?,()=;[]{}\\"


def core_name(node: Node, key: str, value: str) -> str:
    """``value``, refused unless it can name a host or service in every supported core."""
    if not value or len(value) > NAME_LIMIT or not value.isprintable() or \
            any(c in FORBIDDEN_IN_NAMES for c in value) or value != value.strip():
        raise node.error(f"{value[:40]!r} cannot name an object in a core (printable, at most "
                         f"{NAME_LIMIT} characters, none of {FORBIDDEN_IN_NAMES})", key)
    return value


def _path(node: Node, key: str, base: str) -> Optional[str]:
    value: Any = node.text(key, None)
    if value is None:
        return None
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))
