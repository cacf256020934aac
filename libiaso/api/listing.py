"""Reading a list endpoint whole: every page, every entry once, never the document in memory.

A fleet listing is tens of megabytes of JSON (Commvault's VM list declares no paging: one
answer of about 36 MB for 50,000 VMs), so the answer is read from the wire piece by piece and
its entries decoded one at a time: ``json.JSONDecoder.raw_decode`` decodes each complete entry
where it lies in a small rolling buffer, and a value cut by a piece boundary is decoded again
once the next piece has come. Only the document's spine (the objects leading to the entries)
is walked by hand; everything beside the entries (the total, a next link) is decoded whole and
kept, within a bound, to be read by the profile's field specs as any answer is.

Pages are requested as the profile's ``paging`` says (offset, page number or next link, in the
query or in headers) and checked against each other: a total that moves between pages, an entry
named twice (pages that overlap or repeat, a VM listed twice), fewer entries than the total
announced, a listing that stops mid-way. Each is a ``ListingDefect``: the listing is never
handed on as complete when it is not.
"""
from __future__ import annotations

import codecs
import json
import re
import time
from typing import (
    Any,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Tuple,
)

from ..config.profile import WHOLE, Endpoint, Paging
from ..deadline import DeadlineReached
from ..errors import (
    ApiStatusError,
    ApiTimeout,
    ListingDefect,
    NotJson,
    OutOfTime,
    TransportError,
    WrongType,
)
from .answers import ABSENT, read, short_url

ENTRY_LIMIT = 1024 * 1024   # bytes one entry (or any value beside the entries) may take
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")   # what may still follow a number's last piece


class _Refused(Exception):
    """JSON that decodes but that RFC 8259 does not allow (NaN) or that is ambiguous (a key
    given twice): never retried with more input."""


def _unique_pairs(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Refused("an object names a key twice")
    return document


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_no_constant)


class Malformed(Exception):
    """The streamed body is not the JSON document it should be; the text says how."""


class JsonStream:
    """One JSON document arriving in pieces: values decoded as soon as they are complete.

    ``entries(path)`` yields the members of the array at the dotted ``path`` (``.`` for a
    document that is the array) one by one; ``rest`` then holds everything else the document
    said, with the array left out, for reading totals and next links.
    """

    def __init__(self, pieces: Iterator[bytes], entry_limit: int = ENTRY_LIMIT) -> None:
        self._pieces = pieces
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._at = 0
        self._ended = False
        self._started = False
        self.entry_limit = entry_limit
        self.rest: Any = {}
        self.found = False   # whether the array at the path was met and streamed

    # --- input ---------------------------------------------------------------------------------

    def _more(self) -> bool:
        """Append the next piece (decoded) to the buffer; False at the end of the body."""
        if self._ended:
            return False
        piece = next(self._pieces, None)
        try:
            if piece is None:
                self._ended = True
                text = self._decoder.decode(b"", final=True)
            else:
                text = self._decoder.decode(piece)
        except UnicodeDecodeError:
            raise Malformed("a body that is not UTF-8") from None
        if not self._started and text:
            self._started = True
            text = text[1:] if text.startswith("\ufeff") else text
        self._buffer = self._buffer[self._at:] + text
        self._at = 0
        return True

    def _peek(self) -> str:
        """The next character that is not white space, not consumed; '' at the end."""
        while True:
            self._at = _SPACE.match(self._buffer, self._at).end()  # type: ignore[union-attr]
            if self._at < len(self._buffer):
                return self._buffer[self._at]
            if not self._more():
                return ""

    def _expect(self, char: str, where: str) -> None:
        found = self._peek()
        if found != char:
            raise Malformed(f"expected {char!r} {where}, found "
                            + (repr(found) if found else "the end of the body"))
        self._at += 1

    def value(self) -> Any:
        """The next complete JSON value, decoded with RFC 8259's rules."""
        if not self._peek():
            raise Malformed("the body ends where a value should be")
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._at)
            except _Refused as exc:
                raise Malformed(str(exc)) from None
            except (ValueError, RecursionError):
                if len(self._buffer) - self._at > self.entry_limit:
                    raise Malformed(f"a value longer than {self.entry_limit} bytes, or not "
                                    "JSON") from None
                if not self._more():
                    raise Malformed("a value cut short, or not JSON") from None
                continue
            if not self._ended and isinstance(value, (int, float)) and \
                    not isinstance(value, bool) and \
                    _NUMBER_TAIL.fullmatch(self._buffer, end):
                self._more()   # a number at the end of a piece may go on in the next one
                continue
            self._at = end
            return value

    # --- the document's spine ------------------------------------------------------------------

    def entries(self, path: str) -> Iterator[Any]:
        """Each member of the array at ``path``, in order, as it is decoded."""
        parts = [] if path == WHOLE else path.split(".")
        first = self._peek()
        if first == "<":
            raise Malformed("a body that is HTML")
        if first not in ("{", "[", ""):
            try:
                self.value()
            except Malformed:
                raise Malformed("a body that is not valid JSON") from None
            raise Malformed("a JSON value that is neither an object nor a list")
        if not parts:
            if self._peek() != "[":
                self.rest = self.value()
            else:
                self.found = True
                yield from self._array()
        elif self._peek() != "{":
            self.rest = self.value()
        else:
            self.rest = {}
            yield from self._object(parts, self.rest)
        if self._peek():
            raise Malformed("more text after the end of the document")

    def _object(self, parts: List[str], holder: Dict[str, Any]) -> Iterator[Any]:
        self._expect("{", "to open an object")
        if self._peek() == "}":
            self._at += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise Malformed("an object key that is not a text")
            if key in holder:
                raise Malformed(f"an object names {key!r} twice")
            self._expect(":", "after an object key")
            if key == parts[0] and len(parts) == 1 and self._peek() == "[":
                holder[key] = []
                self.found = True
                yield from self._array()
            elif key == parts[0] and len(parts) > 1 and self._peek() == "{":
                holder[key] = {}
                yield from self._object(parts[1:], holder[key])
            else:
                holder[key] = self.value()
            separator = self._peek()
            self._at += 1
            if separator == "}":
                return
            if separator != ",":
                raise Malformed("expected ',' or '}' in an object, found "
                                + (repr(separator) if separator else "the end of the body"))

    def _array(self) -> Iterator[Any]:
        self._expect("[", "to open the list")
        if self._peek() == "]":
            self._at += 1
            return
        while True:
            yield self.value()
            separator = self._peek()
            self._at += 1
            if separator == "]":
                return
            if separator != ",":
                raise Malformed("expected ',' or ']' in the list, found "
                                + (repr(separator) if separator else "the end of the body"))


# --- pages -------------------------------------------------------------------------------------


class Entry(NamedTuple):
    """One entry of the listing: its identifier (as text), the decoded entry, its position."""

    identity: str
    item: Dict[str, Any]
    position: int


class ListingProgress:
    """What a listing read so far: requests, bytes, entries, the total last announced."""

    def __init__(self) -> None:
        self.requests = 0
        self.pages = 0
        self.bytes = 0
        self.received = 0
        self.total: Optional[int] = None

    def shown(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        return f"{self.received}{of} entries, {self.requests} request(s)"


class ListingLimits(NamedTuple):
    """Bounds on one listing, whatever the API sends."""

    max_entries: int = 250_000
    max_bytes: int = 512 * 1024 * 1024
    entry_bytes: int = ENTRY_LIMIT
    cutoff: Optional[float] = None   # monotonic time by which the listing must be read


Opener = Callable[..., Any]   # IasoClient.streamed


class Listing:
    """Every entry of one list endpoint, read once, in order, checked across pages.

    ``entries()`` is a generator: the caller keeps what it needs of each entry as it comes, and
    only the set of identifiers seen is held here. It raises ``ListingDefect`` (the API's
    fault) when the pages do not make one complete listing, and ``ApiTimeout`` with the
    progress made when ``cutoff`` passes.
    """

    def __init__(self, open_page: Opener, endpoint: Endpoint, params: Mapping[str, Any],
                 limits: Optional[ListingLimits] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.open_page = open_page
        self.endpoint = endpoint
        self.params = dict(params)
        self.limits = limits or ListingLimits()
        self.clock = clock
        self.progress = ListingProgress()
        self.url = ""
        self._seen: Dict[str, int] = {}

    def entries(self) -> Iterator[Entry]:
        paging = self.endpoint.paging
        try:
            if paging.style == "none":
                yield from self._page({}, {}, None)
            elif paging.style == "next":
                yield from self._by_link(paging)
            else:
                yield from self._by_number(paging)
        except ApiStatusError as exc:
            raise ApiStatusError(f"the listing stopped after {self.progress.shown()}: "
                                 f"{exc.message}", api_message=exc.api_message, url=exc.url,
                                 status=exc.status, elapsed=exc.elapsed) from None
        except (TransportError, ApiTimeout, OutOfTime) as exc:
            raise type(exc)(f"the listing stopped after {self.progress.shown()}: "
                            f"{exc.message}", url=exc.url, status=exc.status,
                            elapsed=exc.elapsed) from None
        except DeadlineReached as exc:   # while an entry was decoded (SIGTERM goes through)
            raise ApiTimeout(f"the listing was not complete at the probe's deadline: "
                             f"{self.progress.shown()} read ({exc.message})", url=self.url,
                             elapsed=exc.elapsed) from None
        self._check_complete()

    # --- paging styles -------------------------------------------------------------------------

    def _by_number(self, paging: Paging) -> Iterator[Entry]:
        """Offset or page-number paging: pages until one is empty or the total is reached."""
        offset, number = 0, paging.first_page
        while True:
            if self.progress.pages >= paging.max_pages:
                raise self._defect(f"more than {paging.max_pages} pages (paging.max_pages)")
            where = {paging.limit: str(paging.size)}
            where[paging.offset if paging.style == "offset" else paging.page] = str(
                offset if paging.style == "offset" else number)
            query, headers = (where, {}) if paging.place == "query" else ({}, where)
            before = self.progress.received
            yield from self._page(query, headers, None)
            count = self.progress.received - before
            total = self.progress.total
            offset += count
            number += 1
            if count == 0:
                return
            if total is not None:
                if offset >= total:
                    return
            elif self.endpoint.configured("total"):
                raise self._defect(
                    f"no total (field {self.endpoint.field_path('total')!r}) on page "
                    f"{self.progress.pages}: a page cut short by the server could not be told "
                    "from the last one")
            elif count < paging.size:
                return

    def _by_link(self, paging: Paging) -> Iterator[Entry]:
        """Next-link paging: the ``next`` field names the following page (a URL, a path, or a
        cursor sent as ``paging.page``), until it is absent or empty."""
        link: Optional[str] = None
        followed: set = set()
        while True:
            if self.progress.pages >= paging.max_pages:
                raise self._defect(f"more than {paging.max_pages} pages (paging.max_pages)")
            url = None
            query: Dict[str, str] = {}
            headers: Dict[str, str] = {}
            if link is not None:
                if link.startswith(("http://", "https://", "/")):
                    url = link
                elif paging.place == "query":
                    query = {paging.page: link}
                else:
                    headers = {paging.page: link}
            rest = yield from self._page(query, headers, url)
            nxt = read(rest, self.endpoint.spec("next"), "any", required=False, url=self.url)
            if nxt in (None, ""):
                return
            if not isinstance(nxt, (str, int)) or isinstance(nxt, bool):
                raise WrongType(f"field {self.endpoint.field_path('next')!r} should be a text",
                                field=self.endpoint.field_path("next"), url=self.url)
            link = str(nxt)
            if link in followed:
                raise self._defect("the next link leads back to a page already read")
            followed.add(link)

    # --- one page ------------------------------------------------------------------------------

    def _page(self, query: Dict[str, str], headers: Dict[str, str],
              url: Optional[str]) -> Generator[Entry, None, Any]:
        """The entries of one answer; returns what the answer said beside them."""
        limits = self.limits
        spent = self.progress.bytes
        self.progress.requests += 1
        items_path = self.endpoint.field_path("items")
        with self.open_page(self.endpoint.role, self.params, query=query, headers=headers,
                            url=url, limit=max(1, limits.max_bytes - spent)) as reply:
            self.url = reply.url
            stream = JsonStream(self._counted(reply.pieces), limits.entry_bytes)
            try:
                for item in stream.entries(items_path):
                    yield self._entry(item)
            except Malformed as exc:
                raise NotJson(f"{short_url(reply.url)} answered HTTP {reply.status} with "
                              f"{exc.args[0]}", url=reply.url, status=reply.status,
                              elapsed=reply.elapsed()) from None
            self.progress.pages += 1
            if not stream.found:
                found = read(stream.rest, self.endpoint.spec("items"), "list", url=reply.url)
                for item in found:
                    yield self._entry(item)
            self._note_total(stream.rest)
            return stream.rest

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.progress.bytes += len(piece)
            yield piece

    def _entry(self, item: Any) -> Entry:
        progress = self.progress
        position = progress.received
        if not isinstance(item, dict):
            raise WrongType(f"entry {position} of the listing is not an object",
                            field=self.endpoint.field_path("items"), url=self.url)
        identity = read(item, self.endpoint.spec("id"), "id", url=self.url)
        key = str(identity)
        if key in self._seen:
            raise self._defect(f"the listing names {_shown_id(key)} twice (entries "
                               f"{self._seen[key]} and {position}): pages overlap or repeat, "
                               "or the API lists an entry twice")
        cutoff = self.limits.cutoff
        if cutoff is not None and self.clock() > cutoff:
            raise ApiTimeout("no time left in the probe's deadline", url=self.url)
        self._seen[key] = position
        progress.received += 1
        if progress.received > self.limits.max_entries:
            raise self._defect(f"more than {self.limits.max_entries} entries (the bound "
                               "fleet.max_vms)")
        return Entry(key, item, position)

    def _note_total(self, rest: Any) -> None:
        endpoint = self.endpoint
        if not endpoint.configured("total"):
            return
        total = read(rest if rest is not None else {}, endpoint.spec("total"), "int",
                     required=False, url=self.url)
        if total is None:
            return
        if total < 0:
            raise WrongType(f"field {endpoint.field_path('total')!r} is negative",
                            field=endpoint.field_path("total"), url=self.url)
        before = self.progress.total
        if before is not None and total != before:
            raise self._defect(f"the total moved from {before} to {total} between pages: the "
                               "listing changed while it was read")
        self.progress.total = total

    def _check_complete(self) -> None:
        progress = self.progress
        if progress.total is not None and progress.received != progress.total:
            fewer = progress.received < progress.total
            raise self._defect(
                f"{progress.received} entries listed where the total says {progress.total}"
                + (": the listing stopped early" if fewer else ": more than announced"))

    def _defect(self, message: str) -> ListingDefect:
        return ListingDefect(f"{message} ({self.progress.shown()}, {short_url(self.url)})"
                             if self.url else message, received=self.progress.received,
                             total=self.progress.total, url=self.url or None)


def _shown_id(identity: str) -> str:
    """An identifier from the API for a message: printable and short."""
    text = "".join(c if c.isprintable() else "?" for c in identity)
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


__all__ = ["ABSENT", "ENTRY_LIMIT", "Entry", "JsonStream", "Listing", "ListingLimits",
           "ListingProgress", "Malformed"]
