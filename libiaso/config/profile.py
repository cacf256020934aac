"""The API profile: where each endpoint lives and where each answer field sits.

The real IASO's paths and field names are not public, so nothing about them is hard-coded in a
probe: probes ask for an endpoint by its role (``life``, ``login``, ``job_status``...) and for a
field by its logical name (``status_code``, ``token``...). ``DEFAULT_PROFILE`` is our documented
contract (docs/api-contract.md, docs/openapi.yaml); a deployment overrides any part of it in the
configuration file.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, NamedTuple, Tuple

from .schema import Node

DEFAULT_PROFILE: Dict[str, Any] = {
    "auth": {
        "header": "Authorization",
        "prefix": "Bearer ",
        "password_encoding": "plain",
    },
    "healthy_values": ["healthy"],
    "endpoints": {
        "life": {
            "method": "GET", "path": "/life", "auth": False,
            "fields": {"status_code": "statusCode"},
        },
        "health": {
            "method": "GET", "path": "/health", "auth": False,
            "fields": {"overall": "status", "components": "components",
                       "component_name": "name", "component_status": "status",
                       "component_message": "message"},
        },
        "login": {
            "method": "POST", "path": "/login", "auth": False,
            "body": {"username": "{username}", "password": "{password}"},
            "fields": {"token": "token", "expires_in": "expiresIn"},
        },
        "backup": {
            "method": "POST", "path": "/backups", "auth": True,
            "body": {"hostname": "{hostname}", "backupLevel": "{level}"},
            "fields": {"started": "started", "job_id": "jobId"},
        },
        "job_status": {
            "method": "POST", "path": "/jobs/status", "auth": True,
            "body": {"jobId": "{job_id}", "hostname": "{hostname}"},
            "fields": {"job_id": "jobId", "hostname": "hostname", "status": "status",
                       "percent": "percentComplete", "elapsed": "elapsedSeconds",
                       "phase": "phase", "pending_reason": "pendingReason",
                       "failure_reason": "failureReason"},
        },
        "restore": {
            "method": "POST", "path": "/restores", "auth": True,
            "body": {"hostname": "{hostname}", "fileName": "{file_name}",
                     "path": "{source_path}", "destination": "{destination}"},
            "fields": {"started": "started", "job_id": "jobId"},
        },
    },
}

METHODS = ("GET", "POST", "PUT")
PARAMETERS: Dict[str, Tuple[str, ...]] = {
    "login": ("username", "password"),
    "backup": ("hostname", "level"),
    "job_status": ("job_id", "hostname"),
    "restore": ("hostname", "file_name", "source_path", "destination"),
}
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_WHOLE_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


class AuthScheme(NamedTuple):
    """How the token travels and how the password is encoded at login."""

    header: str
    prefix: str
    password_encoding: str

    def header_value(self, token: str) -> str:
        return f"{self.prefix}{token}"


class Endpoint(NamedTuple):
    """One API call: method, path template, body template and field locations."""

    role: str
    method: str
    path: str
    auth: bool
    body: Any
    fields: Mapping[str, str]

    def parameters(self) -> Tuple[str, ...]:
        names = set(_PLACEHOLDER.findall(self.path))
        names.update(_template_names(self.body))
        return tuple(sorted(names))

    def render_path(self, params: Mapping[str, Any]) -> str:
        from urllib.parse import quote

        return _PLACEHOLDER.sub(lambda m: quote(str(params[m.group(1)]), safe=""), self.path)

    def render_body(self, params: Mapping[str, Any]) -> Any:
        return _render(self.body, params)

    def field_path(self, name: str) -> str:
        return self.fields.get(name, name)


class ApiProfile(NamedTuple):
    """Every endpoint by role, the auth scheme and the words meaning healthy."""

    endpoints: Mapping[str, Endpoint]
    auth: AuthScheme
    healthy_values: Tuple[str, ...]

    def endpoint(self, role: str) -> Endpoint:
        return self.endpoints[role]


def parse_profile(node: Node) -> ApiProfile:
    """Validate the (already merged) profile mapping into an ``ApiProfile``."""
    auth_node = node.node("auth")
    auth = AuthScheme(
        header=auth_node.text("header"),
        prefix=auth_node.raw("prefix", ""),
        password_encoding=auth_node.text("password_encoding", choices=("plain", "base64")),
    )
    if not isinstance(auth.prefix, str):
        raise auth_node.error("expected a text (may be empty)", "prefix")
    auth_node.finish()
    healthy = node.text_list("healthy_values")
    endpoints_node = node.node("endpoints")
    endpoints: Dict[str, Endpoint] = {}
    for role, _ in list(endpoints_node.items()):
        endpoints[role] = _parse_endpoint(endpoints_node.node(role), role)
    endpoints_node.finish()
    node.finish()
    return ApiProfile(endpoints=endpoints, auth=auth, healthy_values=healthy)


def _parse_endpoint(node: Node, role: str) -> Endpoint:
    method = node.text("method", choices=METHODS)
    path = node.text("path")
    if not path.startswith("/"):
        raise node.error(f"expected a path starting with '/', got {path!r}", "path")
    fields_node = node.node("fields", {})
    fields: Dict[str, str] = {}
    for name, value in fields_node.items():
        if not isinstance(value, str) or not value:
            raise fields_node.error("expected a dotted path such as data.status", name)
        fields[name] = value
    endpoint = Endpoint(role=role, method=method, path=path, auth=node.flag("auth", False),
                        body=node.raw("body", None), fields=fields)
    available = PARAMETERS.get(role, ())
    unknown = [p for p in endpoint.parameters() if p not in available]
    if unknown:  # found here, not as a KeyError in the middle of a probe run
        raise node.error(f"uses unknown parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(available) or 'none'}")
    node.finish()
    return endpoint


def _template_names(template: Any) -> set:
    if isinstance(template, str):
        return set(_PLACEHOLDER.findall(template))
    if isinstance(template, dict):
        return set().union(*(_template_names(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(_template_names(v) for v in template)) if template else set()
    return set()


def _render(template: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE_PLACEHOLDER.match(template)
        if whole:
            return params[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), template)
    if isinstance(template, dict):
        return {k: _render(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, params) for v in template]
    return template
