"""Reading untrusted YAML mappings with precise error messages.

A ``Node`` wraps one mapping of the configuration together with where it came from (file and
dotted key), so that every complaint names the file, the key and what was expected. Keys are
consumed as they are read; ``finish()`` then rejects whatever is left, because a misspelt key
silently ignored is a check that silently does something else.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ..errors import ConfigError

LARGEST = 1e9     # no number of the configuration means more (31 years of seconds)

_MISSING = object()


def describe(value: Any) -> str:
    """A short, secret-free description of a YAML value for error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Node:
    """One mapping of the configuration, read key by key."""

    def __init__(self, data: Any, path: str, key: str = "") -> None:
        self.path = path
        self.key = key
        if not isinstance(data, dict):
            raise self.error(f"expected a mapping, got {describe(data)}")
        self._data: Dict[str, Any] = dict(data)
        self._seen: set = set()
        for name in self._data:
            if not isinstance(name, str):
                raise self.error(f"keys must be text, got {describe(name)}")

    def error(self, message: str, key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, path=self.path,
                           key=self.child_key(key) if key else self.key or None)

    def child_key(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def has(self, key: str) -> bool:
        return key in self._data

    def peek(self, key: str) -> Any:
        """The value at ``key`` (None if absent) without reading it: ``finish`` still asks."""
        return self._data.get(key)

    def keys(self) -> List[str]:
        return list(self._data)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._seen.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error("is required", key)
            return default
        return self._data[key]

    def node(self, key: str, default: Optional[Mapping[str, Any]] = None) -> Node:
        value = self.raw(key, {} if default is None else default)
        return Node({} if value is None else value, self.path, self.child_key(key))

    def items(self) -> Iterator[Tuple[str, Any]]:
        """Every key of a free-form mapping (names chosen by the user)."""
        for key, value in self._data.items():
            self._seen.add(key)
            yield key, value

    def text(self, key: str, default: Any = _MISSING, *, choices: Tuple[str, ...] = ()) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value:
            raise self.error(f"expected a non-empty text, got {describe(value)}", key)
        if choices and value not in choices:
            raise self.error(f"expected one of {', '.join(choices)}, got {value!r}", key)
        return value

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {describe(value)}", key)
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float = 0.0,
               exclusive: bool = True, integer: bool = False, maximum: float = LARGEST,
               unit: str = "") -> Any:
        if default is None and self._data.get(key) is None:
            self._seen.add(key)
            return None
        value: Any = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or (integer and not isinstance(value, int)):
            kind = "a whole number" if integer else "a number"
            raise self.error(f"expected {kind}, got {describe(value)}", key)
        if value < minimum or (exclusive and value == minimum):
            bound = "above" if exclusive else "at least"
            raise self.error(f"expected a value {bound} {minimum:g}, got {value}", key)
        if value > maximum:   # infinity included: hours, seconds, bytes or counts
            raise self.error(f"expected at most {maximum:.10g}{unit}, got {value:g}", key)
        return value

    def text_list(self, key: str, default: Any = _MISSING) -> Tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"expected a list of texts, got {describe(value)}", key)
        return tuple(value)

    def finish(self) -> None:
        unknown = [k for k in self._data if k not in self._seen]
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            raise self.error(f"unknown key{plural}: {', '.join(sorted(unknown))}")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Dict[str, Any]:
    """``override`` laid over ``base``; nested mappings are merged, everything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
