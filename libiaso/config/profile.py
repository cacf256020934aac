"""The API profile: where each endpoint lives, how its answer is read, and what it means.

The real IASO's contract is not public, so nothing about it is hard-coded in a probe: probes ask
for an endpoint by its role (``life``, ``login``, ``job_status``...) and for a field by its
logical name (``status_code``, ``token``...). A profile says, per role, the request (method,
path, query, body templates) and the answer (JSON or plain text; each field's location, type and
conversion; value maps from the API's words to ours; success, failure and "not yet visible"
rules; paging for list endpoints).

Two forms are read. Version 2 (``version: 2``) starts from a built-in contract (``base: iaso``
or ``base: commvault``, libiaso.config.contracts) and replaces what the site gives: an endpoint's
keys one by one, a field spec whole, a body template whole. Version 1 (no ``version`` key) is
the first form: strings for fields, merged key by key over the iaso contract, bodies included.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from .schema import Node, deep_merge, describe

METHODS = ("GET", "POST", "PUT")
ANSWERS = ("json", "text", "none")   # none: only the HTTP status counts (a bare "alive" URL)
TYPES = ("text", "number", "int", "bool", "id", "list", "object", "time", "any")
SOURCES = ("json", "text", "epoch", "epoch_ms", "iso8601", "duration", "header")
ENCODINGS = ("json", "form")
ROLES = ("life", "health", "login", "backup", "restore", "job_status", "job_list", "vm_list")
# Where each endpoint key means something: elsewhere it would be ignored, so it is refused.
KEY_ROLES: Dict[str, Tuple[str, ...]] = {
    "success": ("life", "backup", "restore"),
    "failure": ("login", "backup", "restore"),
    "not_visible": ("job_status", "job_list"),
    "states": ("health", "job_status"),
    "paging": ("vm_list",),
}
READ_AS_DECLARED = {("life", "status_code")}   # compared with the success values as it is
COMPATIBLE_TYPES: Dict[str, Tuple[str, ...]] = {
    "id": ("id", "text", "int"), "number": ("number", "int"), "int": ("int",),
    "text": ("text",), "time": ("time",), "bool": ("bool",), "list": ("list",),
    "object": ("object",),
}
HEALTH_WORDS = ("ok", "warning", "critical")
JOB_WORDS = ("ok", "warning", "critical", "running", "waiting")
PAGING_STYLES = ("none", "offset", "page", "next")
PAGING_PLACES = ("query", "header")
WHOLE = "."   # the field path meaning the whole answer

# What each role's request may name, and the parameters a target may add.
PARAMETERS: Dict[str, Tuple[str, ...]] = {
    "login": ("username", "password"),
    "backup": ("hostname", "level"),
    "job_status": ("job_id", "hostname"),
    "restore": ("hostname", "file_name", "source_path", "destination"),
    "vm_list": ("since",),
    "job_list": ("hostname", "kind", "job_type", "since", "window"),
}
TARGET_ROLES = ("backup", "restore", "job_list")   # their targets may carry extra parameters
SECRET_PARAMETERS = ("password",)

# The logical fields of each role and the type each is read as.
FIELD_TYPES: Dict[str, Dict[str, str]] = {
    "health": {"overall": "text", "components": "any", "component_name": "text",
               "component_status": "text", "component_message": "text",
               "component_members": "any", "reason": "text"},
    "life": {"status_code": "int", "reason": "text"},
    "login": {"token": "text", "expires_in": "number", "expires_at": "time", "reason": "text"},
    "backup": {"started": "bool", "job_id": "id", "reason": "text"},
    "restore": {"started": "bool", "job_id": "id", "reason": "text"},
    "job_status": {"job_id": "id", "hostname": "text", "status": "text", "percent": "number",
                   "elapsed": "number", "phase": "text", "pending_reason": "text",
                   "failure_reason": "text", "records": "number", "reason": "text"},
    "job_list": {"items": "list", "job_id": "id", "hostname": "text", "kind": "text",
                 "status": "text", "started_at": "time", "user": "text", "level": "text",
                 "file_name": "text", "source_path": "text", "destination": "text",
                 "reason": "text"},
    "vm_list": {"items": "list", "total": "int", "next": "text", "name": "text", "id": "id",
                "reason": "text",
                "group": "text", "plan": "text", "company": "text",
                "last_backup": "time", "last_success": "time",
                "last_status": "text", "failure_reason": "text", "sla": "text",
                "protection": "text"},
}

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\|([a-z0-9_]+))?\}")
_WHOLE_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)(?:\|([a-z0-9_]+))?\}$")


def _iso8601(value: Any) -> str:
    import time as _time

    seconds = float(value)
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(seconds))


# What a template may do to a value on its way out: {level|upper}, {since|iso8601}...
FILTERS: Dict[str, Any] = {
    "upper": lambda value: str(value).upper(),
    "lower": lambda value: str(value).lower(),
    "capitalize": lambda value: str(value).capitalize(),
    "iso8601": _iso8601,
    "epoch_ms": lambda value: int(float(value) * 1000),
}


def _names(text: str) -> set:
    return {match[0] for match in _PLACEHOLDER.findall(text)}


def _value(params: Mapping[str, Any], match: re.Match[str]) -> Any:
    name, how = match.group(1), match.group(2)
    value = params[name]
    if how and value != "" and value is not None:
        return FILTERS[how](value)
    return value
_UNSAFE_SEGMENTS = ("", ".", "..")


class UnsafePathParameter(ValueError):
    """A value that no escaping can make safe as a path segment ('', '.', '..')."""


class FieldSpec(NamedTuple):
    """Where a field sits in the answer and how it is read."""

    path: str
    type: str = "any"
    source: str = "json"       # json: as JSON types it; text: numbers/booleans written as text
    scale: float = 1.0         # multiply a number (0-1 fractions to percent: 100)
    words: Mapping[str, Any] = {}   # the API's words (or numbers, as text) to ours

    def describe(self) -> str:
        return self.path


class Rule(NamedTuple):
    """A condition on one field of the answer (or on the HTTP status)."""

    field: Optional[str] = None
    values: Tuple[Any, ...] = ()
    present: Optional[bool] = None
    empty: Optional[bool] = None
    statuses: Tuple[int, ...] = ()


class Paging(NamedTuple):
    """How a list endpoint pages: its style, where the parameters go, their names."""

    style: str = "none"
    place: str = "query"
    limit: str = "limit"
    offset: str = "offset"
    page: str = "page"
    size: int = 500
    first_page: int = 1
    max_pages: int = 10000


class AuthScheme(NamedTuple):
    """How the token travels and how the password is encoded at login."""

    header: str
    prefix: str
    password_encoding: str

    def header_value(self, token: str) -> str:
        return f"{self.prefix}{token}"


class Endpoint(NamedTuple):
    """One API call: the request templates and the reading of its answer."""

    role: str
    method: str
    path: str
    auth: bool
    body: Any
    fields: Mapping[str, FieldSpec]
    query: Mapping[str, str] = {}
    answer: str = "json"
    statuses: Tuple[int, ...] = ()   # HTTP statuses whose body is read as the answer (2xx)
    encoding: str = "json"           # how the body travels: JSON, or a form (urlencoded)
    success: Optional[Rule] = None
    failure: Optional[Rule] = None
    not_visible: Optional[Rule] = None
    states: Mapping[str, str] = {}
    paging: Paging = Paging()

    def parameters(self) -> Tuple[str, ...]:
        names = _names(self.path)
        names.update(_template_names(self.body))
        names.update(_template_names(dict(self.query)))
        return tuple(sorted(names))

    def render_path(self, params: Mapping[str, Any]) -> str:
        from urllib.parse import quote

        def segment(match: re.Match[str]) -> str:
            value = str(_value(params, match))
            if value in _UNSAFE_SEGMENTS:
                raise UnsafePathParameter(match.group(1))
            return quote(value, safe="")

        return _PLACEHOLDER.sub(segment, self.path)

    def render_query(self, params: Mapping[str, Any]) -> Dict[str, str]:
        return {name: str(_render(template, params)) for name, template in self.query.items()}

    def render_body(self, params: Mapping[str, Any]) -> Any:
        return _render(self.body, params)

    def spec(self, name: str) -> FieldSpec:
        """The spec of logical field ``name`` (its own name as path when not configured)."""
        return self.fields.get(name) or FieldSpec(name, FIELD_TYPES.get(self.role, {}).get(
            name, "any"))

    def field_path(self, name: str) -> str:
        return self.spec(name).path

    def configured(self, name: str) -> bool:
        return name in self.fields


class ApiProfile(NamedTuple):
    """Every endpoint by role, the auth scheme, and which contract it started from."""

    endpoints: Mapping[str, Endpoint]
    auth: AuthScheme
    base: str = "iaso"
    version: int = 1
    written: Tuple[str, ...] = ()   # the roles the site's own profile section writes

    def endpoint(self, role: str) -> Endpoint:
        return self.endpoints[role]

    @property
    def healthy_values(self) -> Tuple[str, ...]:
        states = self.endpoints["health"].states if "health" in self.endpoints else {}
        return tuple(word for word, state in states.items() if state == "ok")


# --- reading the configuration -----------------------------------------------------------------


def profile_document(data: Any, node: Node) -> Tuple[Dict[str, Any], int]:
    """The full profile document a site's ``profile`` section stands for, and its version."""
    from .contracts import CONTRACTS, V1_DEFAULT, V1_JOB_LIST

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise node.error(f"expected a mapping, got {describe(data)}", "profile")
    version = data.get("version", 1)
    if version == 1:
        if "base" in data:
            raise node.error("base: needs version: 2 (version 1 profiles are laid over the "
                             "iaso contract)", "profile.base")
        first = V1_DEFAULT
        written = data.get("endpoints")
        if isinstance(written, dict) and isinstance(written.get("job_list"), dict):
            first = deep_merge(V1_DEFAULT, {"endpoints": {"job_list": V1_JOB_LIST}})
        merged = deep_merge(first, {k: v for k, v in data.items() if k != "version"})
        endpoints = merged.get("endpoints")
        if isinstance(endpoints, dict):   # "role: null" removes an endpoint, as in version 2
            merged["endpoints"] = {k: v for k, v in endpoints.items() if v is not None}
        return merged, 1
    if version != 2:
        raise node.error(f"expected 1 or 2, got {describe(version)}", "profile.version")
    base = data.get("base", "iaso")
    if base not in CONTRACTS:
        raise node.error(f"expected one of {', '.join(CONTRACTS)}, got {describe(base)}",
                         "profile.base")
    return _laid_over(CONTRACTS[base], data, node), 2


def _laid_over(base: Dict[str, Any], site: Dict[str, Any], node: Node) -> Dict[str, Any]:
    """Version 2 merging: an endpoint's keys replace the base's one by one, its fields one by
    one; everything else (a body, a rule, a map) is replaced whole."""
    merged = {k: v for k, v in base.items() if k != "endpoints"}
    for key, value in site.items():
        if key == "endpoints":
            continue
        merged[key] = deep_merge(merged[key], value) if key == "auth" and isinstance(
            value, dict) and isinstance(merged.get(key), dict) else value
    endpoints = {role: dict(spec) for role, spec in base.get("endpoints", {}).items()}
    site_endpoints = site.get("endpoints", {}) or {}
    if not isinstance(site_endpoints, dict):
        raise node.error(f"expected a mapping, got {describe(site_endpoints)}",
                         "profile.endpoints")
    for role, spec in site_endpoints.items():
        if spec is None:
            endpoints.pop(role, None)
            continue
        if not isinstance(spec, dict):
            raise node.error(f"expected a mapping, got {describe(spec)}",
                             f"profile.endpoints.{role}")
        current = endpoints.setdefault(role, {})
        for key, value in spec.items():
            if key == "fields" and isinstance(value, dict) and isinstance(current.get(key), dict):
                merged_fields = {**current[key], **value}   # "name: null" removes a field
                current[key] = {k: v for k, v in merged_fields.items() if v is not None}
            else:
                current[key] = value
        if spec.get("method") == "GET" and "body" not in spec:
            current.pop("body", None)
    merged["endpoints"] = endpoints
    return merged


def parse_profile(node: Node, version: int = 1) -> ApiProfile:
    """Validate the (already merged) profile mapping into an ``ApiProfile``."""
    node.raw("version", None)
    base = node.text("base", "iaso")
    auth_node = node.node("auth")
    auth = AuthScheme(
        header=auth_node.text("header"),
        prefix=auth_node.raw("prefix", ""),
        password_encoding=auth_node.text("password_encoding", choices=("plain", "base64")),
    )
    if not isinstance(auth.prefix, str):
        raise auth_node.error("expected a text (may be empty)", "prefix")
    auth_node.finish()
    healthy: Tuple[str, ...] = ()
    if version == 1:
        healthy = node.text_list("healthy_values")
    endpoints_node = node.node("endpoints")
    endpoints: Dict[str, Endpoint] = {}
    for role, _ in list(endpoints_node.items()):
        if role not in ROLES:
            raise endpoints_node.error(f"unknown endpoint role; known: {', '.join(ROLES)}",
                                       role)
        endpoints[role] = _parse_endpoint(endpoints_node.node(role), role, version)
    endpoints_node.finish()
    if version == 1 and "health" in endpoints:
        endpoints["health"] = endpoints["health"]._replace(
            states={word: "ok" for word in healthy})
    for role in ("life", "health", "login"):
        if role not in endpoints:
            raise endpoints_node.error("is required", role)
    node.finish()
    return ApiProfile(endpoints=endpoints, auth=auth, base=base, version=version)


def _parse_endpoint(node: Node, role: str, version: int) -> Endpoint:
    method = node.text("method", choices=METHODS)
    path = node.text("path")
    if not path.startswith("/"):
        raise node.error(f"expected a path starting with '/', got {path!r}", "path")
    for key, roles in KEY_ROLES.items():
        if node.has(key) and node.raw(key) is not None and role not in roles:
            raise node.error(f"means nothing for the {role} endpoint (only for "
                             f"{', '.join(roles)})", key)
    fields_node = node.node("fields", {})
    types = FIELD_TYPES.get(role, {})
    if node.raw("answer", "json") == "text":
        types = {name: "text" for name in types}   # a text answer is read as text
    ruled = _rule_fields(node)
    fields: Dict[str, FieldSpec] = {}
    for name, value in fields_node.items():
        if name not in types and name not in ruled.values():
            raise fields_node.error(f"unknown field of the {role} answer; known: "
                                    f"{', '.join(sorted(types))} (or a field a rule names)",
                                    name)
        expected = "any" if (role, name) in READ_AS_DECLARED else types.get(name, "any")
        fields[name] = _parse_field(fields_node, name, value, expected, version)
        if expected != types.get(name, expected) and isinstance(value, str):
            fields[name] = fields[name]._replace(type=types[name])
    for rule_key, name in ruled.items():
        if name not in fields and name not in FIELD_TYPES.get(role, {}):
            raise node.error(f"names field {name!r}, which the endpoint does not configure",
                             rule_key)
    query_node = node.node("query", {})
    query: Dict[str, str] = {}
    for name, value in query_node.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise query_node.error(f"expected a text template, got {describe(value)}", name)
        query[name] = str(value)
    body = node.raw("body", None)
    answer = node.text("answer", "json", choices=ANSWERS)
    if answer == "text" and any(spec.path != WHOLE for spec in fields.values()):
        raise node.error("a text answer has no fields but the whole answer: give path '.'",
                         "fields")
    if answer == "none" and fields:
        raise node.error("an answer that is not read has no fields", "fields")
    states_words = JOB_WORDS if role == "job_status" else HEALTH_WORDS
    states_node = node.node("states", {})
    states: Dict[str, str] = {}
    for word, state in states_node.items():
        if state not in states_words:
            raise states_node.error(f"expected one of {', '.join(states_words)}, got "
                                    f"{describe(state)}", word)
        states[str(word)] = state
    statuses = node.raw("statuses", [])
    if not isinstance(statuses, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599
            for s in statuses):
        raise node.error(f"expected a list of HTTP statuses, got {describe(statuses)}",
                         "statuses")
    endpoint = Endpoint(
        role=role, method=method, path=path, auth=node.flag("auth", False), body=body,
        fields=fields, query=query, answer=answer, statuses=tuple(statuses),
        encoding=node.text("encoding", "json", choices=ENCODINGS),
        success=_parse_rule(node, "success", fields),
        failure=_parse_rule(node, "failure", fields),
        not_visible=_parse_rule(node, "not_visible", fields),
        states=states, paging=_parse_paging(node))
    _check_filters(node, endpoint)
    available = PARAMETERS.get(role, ())
    unknown = [p for p in endpoint.parameters() if p not in available]
    if unknown and not (version == 2 and role in TARGET_ROLES):
        raise node.error(f"uses unknown parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(available) or 'none'}")
    for name, template in query.items():
        if _names(template) & set(SECRET_PARAMETERS):
            raise node.error("the password may not travel in a URL (logs and proxies keep "
                             "URLs): put it in the body", f"query.{name}")
    if _names(path) & set(SECRET_PARAMETERS):
        raise node.error("the password may not travel in a URL: put it in the body", "path")
    node.finish()
    return endpoint


def _rule_fields(node: Node) -> Dict[str, str]:
    """The field each rule of the endpoint names (rules may name helper fields of their own)."""
    found = {}
    for key in ("success", "failure", "not_visible"):
        rule = node.peek(key)
        if isinstance(rule, dict) and isinstance(rule.get("field"), str):
            found[key] = rule["field"]
    return found


def _check_filters(node: Node, endpoint: Endpoint) -> None:
    templates = [endpoint.path, *endpoint.query.values()]
    pending = [endpoint.body]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            templates.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    for template in templates:
        for name, how in _PLACEHOLDER.findall(template):
            if how and how not in FILTERS:
                raise node.error(f"{{{name}|{how}}}: unknown filter; known: "
                                 f"{', '.join(FILTERS)}")


def _parse_field(parent: Node, name: str, value: Any, default_type: str,
                 version: int) -> FieldSpec:
    if isinstance(value, str) and value:
        return FieldSpec(value, default_type, "epoch" if default_type == "time" else "json")
    if version == 1 or not isinstance(value, dict):
        raise parent.error("expected a dotted path such as data.status"
                           + ("" if version == 1 else " or a mapping with path:"), name)
    spec = Node(value, parent.path, parent.child_key(name))
    path = spec.text("path")
    kind = spec.text("type", default_type, choices=TYPES)
    if default_type != "any" and kind not in COMPATIBLE_TYPES.get(default_type, (kind,)):
        raise spec.error(f"the probes read {name} as {default_type}; type {kind} cannot be "
                         "read so (convert with from:, map: or scale: instead)", "type")
    source = spec.text("from", "json", choices=SOURCES)
    if source in ("epoch", "epoch_ms", "iso8601") and kind != "time":
        raise spec.error(f"from: {source} reads a time; give type: time", "from")
    if source == "duration" and kind not in ("number", "int"):
        raise spec.error("from: duration reads seconds; give type: number", "from")
    if kind == "time" and source in ("json", "text", "header"):
        raise spec.error("a time is read from: epoch, epoch_ms or iso8601", "from")
    if source == "header" and kind not in ("text", "any", "id"):
        raise spec.error("a header is read as text", "from")
    scale = spec.number("scale", 1.0)
    words_node = spec.node("map", {})
    words = {str(k): v for k, v in words_node.items()}
    spec.finish()
    return FieldSpec(path, kind, source, float(scale), words)


def _parse_rule(node: Node, key: str, fields: Mapping[str, FieldSpec]) -> Optional[Rule]:
    if not node.has(key):
        node.raw(key, None)
        return None
    raw = node.raw(key)
    if raw is None:
        return None
    rule_node = Node(raw, node.path, node.child_key(key))
    field_name = rule_node.text("field", None)
    values = rule_node.raw("in", [])
    if not isinstance(values, list):
        raise rule_node.error(f"expected a list of values, got {describe(values)}", "in")
    present = rule_node.raw("present", None)
    empty = rule_node.raw("empty", None)
    statuses = rule_node.raw("status", [])
    if not isinstance(statuses, list) or not all(isinstance(s, int) and 100 <= s <= 599
                                                 for s in statuses):
        raise rule_node.error("expected a list of HTTP statuses", "status")
    for flag_name, flag in (("present", present), ("empty", empty)):
        if flag is not None and not isinstance(flag, bool):
            raise rule_node.error(f"expected true or false, got {describe(flag)}", flag_name)
    if field_name is None and not statuses:
        raise rule_node.error("give field: (with in:, present: or empty:) or status:")
    if field_name is not None and not (values or present is not None or empty is not None):
        raise rule_node.error("give in:, present: or empty: for the field")
    rule_node.finish()
    return Rule(field_name, tuple(values), present, empty, tuple(statuses))


def _parse_paging(node: Node) -> Paging:
    if not node.has("paging"):
        return Paging()
    paging_node = node.node("paging")
    defaults = Paging()
    paging = Paging(
        style=paging_node.text("style", defaults.style, choices=PAGING_STYLES),
        place=paging_node.text("in", defaults.place, choices=PAGING_PLACES),
        limit=paging_node.text("limit", defaults.limit),
        offset=paging_node.text("offset", defaults.offset),
        page=paging_node.text("page", defaults.page),
        size=paging_node.number("size", defaults.size, minimum=1, exclusive=False,
                                integer=True),
        first_page=paging_node.number("first_page", defaults.first_page, minimum=0,
                                      exclusive=False, integer=True),
        max_pages=paging_node.number("max_pages", defaults.max_pages, minimum=1,
                                     exclusive=False, integer=True),
    )
    paging_node.finish()
    return paging


def extra_parameters(endpoint: Endpoint) -> List[str]:
    """The parameters a target must carry (``params:``) for this endpoint."""
    return [p for p in endpoint.parameters() if p not in PARAMETERS.get(endpoint.role, ())]


def target_calls(profile: ApiProfile, role: str, listing: bool = True
                 ) -> List[Tuple[str, List[str]]]:
    """The calls made for one backup or restore target (its launch, and the job listing asked
    before it unless ``listing`` is false: --wait), each with the parameters it needs from the
    target's ``params:``."""
    calls = [(f"{role} call", extra_parameters(profile.endpoint(role)))]
    if listing and "job_list" in profile.endpoints:
        calls.append(("job listing", extra_parameters(profile.endpoint("job_list"))))
    return calls


def ad_hoc_refusal(profile: ApiProfile, role: str, listing: bool = True) -> Optional[str]:
    """Why a target given on the command line (no ``params:``) cannot be run, if it cannot."""
    needs = [f"the profile's {call} needs {', '.join(needed)}"
             for call, needed in target_calls(profile, role, listing) if needed]
    return "; ".join(needs) or None


def _template_names(template: Any) -> set:
    if isinstance(template, str):
        return _names(template)
    if isinstance(template, dict):
        return set().union(*(_template_names(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(_template_names(v) for v in template)) if template else set()
    return set()


def _render(template: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE_PLACEHOLDER.match(template)
        if whole:
            return _value(params, whole)
        return _PLACEHOLDER.sub(lambda m: str(_value(params, m)), template)
    if isinstance(template, dict):
        return {k: _render(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, params) for v in template]
    return template
