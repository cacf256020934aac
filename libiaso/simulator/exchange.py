"""One request as a contract sees it, and its answer: a JSON document, a text, or a stream.

A stream is for the VM listings: tens of megabytes of JSON written piece by piece as the VMs are
computed, so the simulator never holds the answer (nor several copies of it) in memory. A stream
may be cut: the connection then closes before the end, as when a listing stops mid-way.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, Protocol

from .inventory import Page
from .jobs import JobBook
from .scenario import Scenario

ENCODE = json.JSONEncoder(separators=(",", ":")).encode
PIECE = 64 * 1024   # bytes gathered before one write (one HTTP chunk)


class Request(NamedTuple):
    method: str
    route: str                      # the path under the API's prefix
    query: Mapping[str, str]        # the last value of each query parameter
    body: Any                       # the JSON request body, or None
    headers: Any                    # case-insensitive, as http.server gives them
    params: Mapping[str, str] = {}  # the route's path parameters


class Stream:
    """A JSON answer written as it is made: a head, items joined by commas, a tail.

    ``cut_after`` items are written, then half of the next item's text, then the connection
    closes: the listing stopped mid-way.
    """

    def __init__(self, head: str, items: Iterable[Any], tail: str,
                 encode: Callable[[Any], str] = ENCODE, cut_after: Optional[int] = None,
                 wrap: bool = False) -> None:
        self.head, self.items, self.tail = head, items, tail
        self.encode = encode
        self.cut_after = cut_after
        self.wrap = wrap          # the "list" body fault: the whole answer inside [ ]
        self.cut = False
        self.bytes = 0

    def pieces(self) -> Iterator[bytes]:
        """The answer's bytes in pieces of about ``PIECE`` bytes; ``cut`` is set when cut."""
        buffer = ["[" + self.head if self.wrap else self.head]
        size = len(buffer[0])
        for number, item in enumerate(self.items):
            text = self.encode(item)
            if number == self.cut_after:
                buffer.append(("," if number else "") + text[: len(text) // 2])
                self.cut = True
                break
            buffer.append("," + text if number else text)
            size += len(text) + 1
            if size >= PIECE:
                yield self._flush(buffer)
                buffer, size = [], 0
        if not self.cut:
            buffer.append(self.tail + ("]" if self.wrap else ""))
        yield self._flush(buffer)

    def whole(self) -> bytes:
        """The full answer in memory (only for body faults that need its length)."""
        return b"".join(self.pieces())

    def _flush(self, buffer: list) -> bytes:
        data = "".join(buffer).encode("utf-8")
        self.bytes += len(data)
        return data


class Answer(NamedTuple):
    status: int
    document: Any                    # a JSON value, a text (text/plain) or a Stream
    content_type: str = "application/json"
    headers: Mapping[str, str] = {}


class Backend(Protocol):
    """What a contract reads and changes in the simulator: one state for both contracts."""

    scenario: Scenario
    jobs: JobBook
    clock: Callable[[], float]

    def credentials_match(self, username: Any, password: Any, default_encoding: str) -> bool:
        ...

    def issue_token(self, token: str, lifetime: float) -> None:
        ...

    def token_alive(self, token: str, sliding: bool) -> bool:
        ...

    def page(self, offset: int, limit: Optional[int], since: Optional[float]) -> Page:
        ...
