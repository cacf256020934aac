"""A VM as the fleet check keeps it: what one listing entry says, read through the profile.

Only what judging needs is kept (name, group, last good and last backup times, the last
backup's status and reason, protection), in a compact record that the snapshot between runs
stores as a list. The API's words for protection and for a failed backup are matched without
regard to case, spaces or punctuation, so Commvault's ``FAILED_TO_START`` and our contract's
``Failed to Start`` are one word; a site adds its own through ``fleet.words``.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from ..api.answers import read
from ..config.profile import Endpoint
from ..errors import FieldError

TEXT_LIMIT = 200   # characters kept of a name, a group, a status or a reason

PROTECTED, EXCLUDED, UNPROTECTED = "protected", "excluded", "unprotected"

# The API's words, compared once reduced to lower-case letters and digits.
DEFAULT_WORDS: Mapping[str, Tuple[str, ...]] = {
    # the last backup ended with errors (ours, Commvault's job status words, V4 JobStatus)
    "failed": ("Failed", "Killed", "Failed to Start", "Completed w/ one or more errors",
               "COMPLETED_WITH_ERRORS", "SYSTEM_FAILED", "Completed with errors"),
    # left out of the backup SLA on purpose
    "excluded": ("excluded", "EXCLUDED_SLA"),
    # known to the API but not protected by any plan
    "unprotected": ("unprotected", "NOT_PROTECTED", "DISCOVERED", "YET_TO_BE_PROTECTED"),
    "protected": ("protected", "PROTECTED", "BACKED_UP_WITH_ERROR", "PENDING"),
}


def reduced(word: str) -> str:
    """A word as it is compared: its letters and digits (of any script, composed as NFKC
    composes them), case folded."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", word).casefold())


class Vocabulary:
    """Which of the API's words mean what, the defaults and the site's additions together."""

    def __init__(self, extra: Mapping[str, Iterable[str]] = {}) -> None:
        self.words: Dict[str, set] = {}
        for kind, words in DEFAULT_WORDS.items():
            self.words[kind] = {reduced(w) for w in (*words, *extra.get(kind, ()))}

    def failed(self, status: str) -> bool:
        word = reduced(status)
        return bool(word) and word in self.words["failed"]

    def protection(self, protection: str, sla: str) -> str:
        """protected, excluded or unprotected, from the protection and SLA words; a word
        nobody knows is protected: such a VM is judged rather than left out."""
        words = {reduced(protection), reduced(sla)} - {""}
        if words & self.words["excluded"]:
            return EXCLUDED
        if words & self.words["unprotected"] and not words & self.words["protected"]:
            return UNPROTECTED
        return PROTECTED


class Vm(NamedTuple):
    """One VM: identity and name, its group (by ``fleet.group_by``), its backup history."""

    identity: str
    name: str
    group: str
    last_success: Optional[float]   # epoch seconds of the last successful backup
    last_backup: Optional[float]    # epoch seconds of the last backup, whatever its end
    status: str                     # the API's word for how the last backup ended
    reason: str                     # why it failed, in the API's words
    protection: str                 # protected, excluded or unprotected
    problem: str = ""               # why this entry cannot be judged (a field the API got wrong)

    def stored(self) -> List[Any]:
        return list(self[1:])

    @classmethod
    def from_stored(cls, identity: str, values: Any) -> Vm:
        """A VM from the snapshot; ``ValueError`` if the stored values are not one."""
        if not isinstance(values, list) or len(values) != len(cls._fields) - 1:
            raise ValueError("not a stored VM")
        name, group, success, last, status, reason, protection, problem = values
        for text in (name, group, status, reason, protection, problem):
            if not isinstance(text, str):
                raise ValueError("not a stored VM")
        for moment in (success, last):
            if moment is not None and (isinstance(moment, bool)
                                       or not isinstance(moment, (int, float))
                                       or not math.isfinite(moment)):
                raise ValueError("not a stored VM")
        if protection not in (PROTECTED, EXCLUDED, UNPROTECTED):
            raise ValueError("not a stored VM")
        return cls(identity, name, group, success, last, status, reason, protection, problem)


class EntryReader:
    """Turns listing entries into ``Vm`` records with the endpoint's field specs."""

    def __init__(self, endpoint: Endpoint, group_by: str, vocabulary: Vocabulary) -> None:
        self.endpoint = endpoint
        self.vocabulary = vocabulary
        spec = endpoint.spec
        self.name = spec("name")
        self.group = spec(group_by) if endpoint.configured(group_by) else None
        self.optional = {key: spec(key) for key in ("last_success", "last_backup",
                                                    "last_status", "failure_reason", "sla",
                                                    "protection") if endpoint.configured(key)}

    def vm(self, identity: str, item: Mapping[str, Any], url: str) -> Vm:
        """The VM an entry describes; a missing or unusable name is the API's fault (raised),
        any other unusable field makes the VM unjudgeable (``problem``), not the listing."""
        name = _text(read(item, self.name, "str", url=url))
        if not name.strip():
            raise FieldError(f"a VM of the listing has an empty name (field "
                             f"{self.name.path!r})", field=self.name.path, url=url)
        values: Dict[str, Any] = {}
        problem = ""
        for key, spec in self.optional.items():
            kind = "time" if key.startswith("last_") and key != "last_status" else "str"
            try:
                values[key] = read(item, spec, kind, required=False, url=url)
            except FieldError as exc:
                problem = problem or f"field {exc.field!r} unusable: {exc.message}"
            if kind == "time" and values.get(key) is not None and values[key] <= 0:
                if values[key] < 0:
                    problem = problem or f"field {spec.path!r} is a time before 1970"
                values[key] = None      # 0: the usual "no such time" (Commvault's too)
        group = ""
        if self.group is not None:
            try:
                group = _text(read(item, self.group, "str", required=False, url=url) or "")
            except FieldError as exc:
                problem = problem or f"field {exc.field!r} unusable: {exc.message}"
        vocabulary = self.vocabulary
        protection = vocabulary.protection(_text(values.get("protection") or ""),
                                           _text(values.get("sla") or ""))
        return Vm(identity=identity, name=name, group=group,
                  last_success=_moment(values.get("last_success")),
                  last_backup=_moment(values.get("last_backup")),
                  status=_text(values.get("last_status") or ""),
                  reason=_text(values.get("failure_reason") or ""),
                  protection=protection, problem=_text(problem))


def _text(value: str) -> str:
    return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT - 3] + "..."


def _moment(value: Optional[float]) -> Optional[float]:
    return None if value is None else float(value)
