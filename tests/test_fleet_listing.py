"""Reading a list endpoint whole (libiaso/api/listing.py): the streamed JSON reader against the
standard library's own parser, every paging style against small servers that page as the
profile says, and each way a listing can fail to add up against the simulator's inventory
faults and hand-made answers. What must hold: every entry once, in order; never the whole
document in memory; never a partial listing handed on as complete.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import PASSWORD, USERNAME, play, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from libiaso.api.client import IasoClient
from libiaso.api.listing import JsonStream, Listing, ListingLimits, Malformed
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline
from libiaso.errors import (
    ApiStatusError,
    ApiTimeout,
    BodyTooLarge,
    ListingDefect,
    MissingField,
    NotJson,
    RedirectRefused,
    TransportError,
    WrongType,
)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


# --- the streamed reader -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(json_values, max_size=8), size=st.integers(1, 9),
       extra=st.dictionaries(st.sampled_from(["total", "next", "meta"]), json_values,
                             max_size=3), plain=st.booleans())
def test_ok_entries_are_what_json_loads_reads_however_the_body_is_cut(
        entries: List[Any], size: int, extra: Dict[str, Any], plain: bool) -> None:
    document = dict(extra, vms=entries)
    body = json.dumps(document, ensure_ascii=plain).encode("utf-8")
    stream = JsonStream(pieces(body, size))
    assert list(stream.entries("vms")) == json.loads(body)["vms"]
    assert stream.rest == dict(extra, vms=[])


def test_ok_nested_path_bare_list_bom_and_numbers_cut_in_two() -> None:
    body = '\ufeff{"data": {"count": 12345, "vms": [1234567, -0.5e3, "é"]}, "n": 9876}'.encode()
    stream = JsonStream(pieces(body, 1))
    assert list(stream.entries("data.vms")) == [1234567, -500.0, "é"]
    assert stream.rest == {"data": {"count": 12345, "vms": []}, "n": 9876}
    assert list(JsonStream(pieces(b"[1, 22, 333]", 2)).entries(".")) == [1, 22, 333]


def test_ok_the_whole_document_is_never_held() -> None:
    entry = {"name": "vm", "id": "x" * 40, "lastBackup": {"time": 1700000000, "status": "OK"}}
    body = json.dumps({"total": 20000, "vms": [dict(entry, n=i) for i in range(20000)]}).encode()
    stream = JsonStream(pieces(body, 65536))
    largest = 0
    count = 0
    for _ in stream.entries("vms"):
        count += 1
        largest = max(largest, len(stream._buffer))
    assert count == 20000 and len(body) > 2_000_000
    assert largest < 2 * 65536, largest


@pytest.mark.parametrize("body, words", [
    (b'{"vms": [{"a": 1}, {"a": 2', "cut short"),
    (b'{"vms": [1, 2] ', "expected ',' or '}'"),
    (b'{"vms": [1, 2]} trailing', "more text after the end"),
    (b'{"vms": [{"a": 1, "a": 2}]}', "names a key twice"),
    (b'{"vms": [], "vms": []}', "names 'vms' twice"),
    (b'{"vms": [NaN]}', "NaN is not JSON"),
    (b'{"vms": [1 2]}', "expected ',' or ']'"),
    (b'{"vms": ["\xff"]}', "not UTF-8"),
    (b'{"vms": ["' + b"x" * 3000 + b'"]}', "longer than 1024 bytes"),
    (b"", "ends where a value should be"),
], ids=["crit-cut-mid-entry", "crit-unclosed-document", "crit-trailing-text",
        "crit-key-twice-in-entry", "crit-list-named-twice", "crit-nan", "crit-missing-comma",
        "crit-not-utf8", "crit-entry-over-bound", "crit-empty-body"])
def test_crit_malformed_bodies_are_refused(body: bytes, words: str) -> None:
    with pytest.raises(Malformed, match=words):
        list(JsonStream(pieces(body, 7), entry_limit=1024).entries("vms"))


# --- against the simulator ---------------------------------------------------------------------


def client_for(path: Path, env: str = "lab") -> Tuple[IasoClient, Any]:
    environment = load_config(str(path)).environment(env)
    return IasoClient(environment, Deadline(60)), environment


def listing_of(config: Path, limits: Optional[ListingLimits] = None,
               params: Optional[Dict[str, Any]] = None) -> Tuple[List[str], Listing]:
    client, environment = client_for(config)
    endpoint = environment.profile.endpoint("vm_list")
    listing = Listing(client.streamed, endpoint, {"since": ""} if params is None else params,
                      limits)
    try:
        names = [entry.item["name"] for entry in listing.entries()]
    finally:
        client.close()
    return names, listing


V2 = {"profile": {"version": 2, "base": "iaso",
                  "endpoints": {"vm_list": {"paging": {"style": "offset", "size": 40}}}}}
COMMVAULT = {"profile": {"version": 2, "base": "commvault"}}


@pytest.mark.parametrize("contract", ["iaso", "commvault"])
def test_ok_every_vm_once_in_order(contract: str, tmp_path: Path, simulator: Any) -> None:
    from libiaso.simulator.scenario import scenario_from
    from libiaso.simulator.server import Simulator

    sim = Simulator(scenario_from({"credentials": {"username": USERNAME, "password": PASSWORD},
                                   "inventory": {"size": 230}}), contract=contract)
    sim.start()
    try:
        config = write_config(tmp_path, sim.url, extra=V2 if contract == "iaso" else COMMVAULT)
        names, listing = listing_of(config)
    finally:
        sim.stop()
    assert names == [f"vm-{n:06d}" for n in range(230)]
    assert listing.progress.total == 230
    assert listing.progress.requests == (6 if contract == "iaso" else 1)


@pytest.mark.parametrize("faults, words", [
    ({"overlap": 3}, r"names '[0-9a-f-]+' twice \(entries 37 and 40\): pages overlap or repeat"),
    ({"repeat_pages": [3]}, r"names '[0-9a-f-]+' twice \(entries 40 and 80\)"),
    ({"total_drift": 5}, r"the total moved from 230 to 235 between pages"),
    ({"duplicates": 2}, r"names '[0-9a-f-]+' twice"),
], ids=["crit-pages-overlap", "crit-page-repeated", "crit-total-moves", "crit-vm-listed-twice"])
def test_crit_pages_that_do_not_add_up(faults: Dict[str, Any], words: str, tmp_path: Path,
                                       sim: Any) -> None:
    play(sim, {"inventory": {"size": 230, "faults": faults}})
    with pytest.raises(ListingDefect, match=words) as caught:
        listing_of(write_config(tmp_path, sim.url, extra=V2))
    assert caught.value.received < 230 + faults.get("duplicates", 0)


def test_crit_listing_cut_mid_way_says_how_far_it_got(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": {"size": 230, "faults": {"cut_at": 123}}})
    with pytest.raises(TransportError, match=r"^the listing stopped after 123 of 230 entries, "
                                             r"4 request\(s\): the answer from .* was cut short"):
        listing_of(write_config(tmp_path, sim.url, extra=V2))


def test_crit_more_vms_than_the_bound(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": {"size": 230}})
    with pytest.raises(ListingDefect, match=r"more than 100 entries \(the bound fleet.max_vms\)"):
        listing_of(write_config(tmp_path, sim.url, extra=V2), ListingLimits(max_entries=100))


def test_crit_listing_bigger_than_its_byte_bound(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": {"size": 230}})
    with pytest.raises(BodyTooLarge, match=r"exceeds the \d+-byte bound"):
        listing_of(write_config(tmp_path, sim.url, extra=V2), ListingLimits(max_bytes=20000))


def test_crit_listing_stops_at_the_cutoff_with_its_progress(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": {"size": 230}})
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0   # one second a VM
        return now[0]

    client, environment = client_for(write_config(tmp_path, sim.url, extra=V2))
    listing = Listing(client.streamed, environment.profile.endpoint("vm_list"), {"since": ""},
                      ListingLimits(cutoff=50.5), clock)
    with pytest.raises(ApiTimeout, match=r"^the listing stopped after 50 of 230 entries, "
                                         r"2 request\(s\): no time left in the probe's deadline"):
        list(listing.entries())
    client.close()


def test_ok_since_asks_only_for_what_changed(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": {"size": 230}})
    names, listing = listing_of(write_config(tmp_path, sim.url, extra=V2),
                                params={"since": str(int(time.time()) - 3 * 3600)})
    fleet, now = sim.fleet(), sim.clock()
    changed = [f"vm-{i:06d}" for i in range(230) if fleet.vm(i, now).changed >=
               int(time.time()) - 3 * 3600]
    assert names == changed and 0 < len(names) < 230
    assert listing.progress.total == len(changed)


# --- paging styles and hostile answers, from a small scripted server ---------------------------

Handler = Callable[[str, Dict[str, List[str]], Dict[str, str]], Tuple[int, Dict[str, str], bytes]]


class Scripted:
    """A server whose every request is answered by ``handler(path, query, headers)``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: List[Tuple[str, Dict[str, List[str]], Dict[str, str]]] = []
        scripted = self

        class Handle(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                scripted.requests.append((parts.path, query, headers))
                status, extra, body = scripted.handler(parts.path, query, headers)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Handler], Scripted]]:
    servers: List[Scripted] = []

    def start(handler: Handler) -> Scripted:
        servers.append(Scripted(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def profile(**vm_list: Any) -> Dict[str, Any]:
    """A v2 profile whose vm_list needs no login, laid over the iaso contract."""
    return {"profile": {"version": 2, "base": "iaso", "endpoints": {"vm_list": dict(
        {"auth": False, "query": {}}, **vm_list)}}}


def vms(start: int, stop: int) -> List[Dict[str, Any]]:
    return [{"name": f"vm-{n}", "id": n} for n in range(start, stop)]


def test_ok_page_numbers_in_headers(scripted: Any, tmp_path: Path) -> None:
    def handler(path: str, query: Any, headers: Dict[str, str]) -> Tuple[int, Dict, bytes]:
        number, size = int(headers["pageno"]), int(headers["pagesize"])
        start = number * size
        return 200, {}, json.dumps({"count": 25, "list": vms(start, min(start + size, 25))}
                                   ).encode()

    server = scripted(handler)
    config = write_config(tmp_path, server.url, extra=profile(
        path="/vm", fields={"items": "list", "total": "count"},
        paging={"style": "page", "in": "header", "page": "PageNo", "limit": "PageSize",
                "size": 10, "first_page": 0}))
    names, _ = listing_of(config)
    assert names == [f"vm-{n}" for n in range(25)]
    assert [h["pageno"] for _, _, h in server.requests] == ["0", "1", "2"]


def test_ok_next_links_url_path_and_cursor(scripted: Any, tmp_path: Path) -> None:
    def handler(path: str, query: Dict[str, List[str]], headers: Any) -> Tuple[int, Dict, bytes]:
        if path == "/api/vm":
            cursor = query.get("cursor", [""])[0]
            if not cursor:
                port = server.httpd.server_address[1]
                return 200, {}, json.dumps({"data": vms(0, 3), "links": {
                    "next": f"http://127.0.0.1:{port}/api/vm/2"}}).encode()
            return 200, {}, json.dumps({"data": vms(6, 8), "links": {"next": None}}).encode()
        if path == "/api/vm/2":
            return 200, {}, json.dumps({"data": vms(3, 6), "links": {"next": "c-3"}}).encode()
        return 404, {}, b"{}"

    server = scripted(handler)
    config = write_config(tmp_path, server.url, extra=profile(
        path="/vm", fields={"items": "data", "next": "links.next"},
        paging={"style": "next", "page": "cursor"}))
    names, _ = listing_of(config)
    assert names == [f"vm-{n}" for n in range(8)]
    assert [p for p, _, _ in server.requests] == ["/api/vm", "/api/vm/2", "/api/vm"]


def test_crit_next_link_going_round_in_circles(scripted: Any, tmp_path: Path) -> None:
    def handler(path: str, query: Dict[str, List[str]], headers: Any) -> Tuple[int, Dict, bytes]:
        cursor = query.get("cursor", ["a"])[0]
        start = {"a": 0, "b": 2}[cursor]
        return 200, {}, json.dumps({"data": vms(start, start + 2), "next": "b"}).encode()

    server = scripted(handler)
    config = write_config(tmp_path, server.url, extra=profile(
        path="/vm", fields={"items": "data", "next": "next"},
        paging={"style": "next", "page": "cursor"}))
    with pytest.raises(ListingDefect, match="leads back to a page already read"):
        listing_of(config)


def test_crit_next_link_to_another_origin_is_not_followed(scripted: Any, tmp_path: Path) -> None:
    server = scripted(lambda p, q, h: (200, {}, json.dumps(
        {"data": vms(0, 2), "next": "http://198.51.100.7/api/vm?page=2"}).encode()))
    config = write_config(tmp_path, server.url, extra=profile(
        path="/vm", fields={"items": "data", "next": "next"}, paging={"style": "next"}))
    with pytest.raises(RedirectRefused, match="is not on the configured origin: not sent"):
        listing_of(config)
    assert len(server.requests) == 1


def test_crit_fewer_entries_than_the_total(scripted: Any, tmp_path: Path) -> None:
    server = scripted(lambda p, q, h: (200, {}, json.dumps(
        {"total": 5, "vms": vms(0, 3)}).encode()))
    config = write_config(tmp_path, server.url, extra=profile(paging={"style": "none"}))
    with pytest.raises(ListingDefect, match="3 entries listed where the total says 5: the "
                                            "listing stopped early"):
        listing_of(config)


@pytest.mark.parametrize("document, error, words", [
    ({"total": 1}, MissingField, "has no field 'vms'"),
    ({"vms": {"a": 1}}, WrongType, "field 'vms' should be a list"),
    ({"vms": [1, 2]}, WrongType, "entry 0 of the listing is not an object"),
    ({"vms": [{"name": "a"}]}, MissingField, "has no field 'id'"),
    ({"vms": [], "total": -1}, WrongType, "is negative"),
], ids=["crit-no-list", "crit-list-is-an-object", "crit-entry-not-object", "crit-entry-no-id",
        "crit-negative-total"])
def test_crit_answers_without_a_usable_list(document: Any, error: type, words: str,
                                            scripted: Any, tmp_path: Path) -> None:
    server = scripted(lambda p, q, h: (200, {}, json.dumps(document).encode()))
    config = write_config(tmp_path, server.url, extra=profile(paging={"style": "none"}))
    with pytest.raises(error, match=words):
        listing_of(config)


def test_crit_html_instead_of_json(scripted: Any, tmp_path: Path) -> None:
    server = scripted(lambda p, q, h: (200, {"Content-Type": "text/html"},
                                       b"<html><body>maintenance</body></html>"))
    config = write_config(tmp_path, server.url, extra=profile(paging={"style": "none"}))
    with pytest.raises(NotJson, match=r"/api/vms answered HTTP 200 with a body that is HTML"):
        listing_of(config)


def test_crit_an_error_status_mid_listing_says_how_far_it_got(scripted: Any,
                                                              tmp_path: Path) -> None:
    def handler(path: str, query: Dict[str, List[str]], headers: Any) -> Tuple[int, Dict, bytes]:
        if query["offset"] == ["0"]:
            return 200, {}, json.dumps({"total": 25, "vms": vms(0, 10)}).encode()
        return 503, {}, json.dumps({"message": "maintenance window"}).encode()

    server = scripted(handler)
    config = write_config(tmp_path, server.url, extra=profile(
        paging={"style": "offset", "size": 10}))
    with pytest.raises(ApiStatusError, match=r"^the listing stopped after 10 of 25 entries, 2 "
                                             r"request\(s\): .*/api/vms answered HTTP 503: "
                                             r"maintenance window$"):
        listing_of(config)


def test_ok_an_expired_token_mid_listing_logs_in_again_once(scripted: Any,
                                                            tmp_path: Path) -> None:
    tokens = iter(["first-token-value", "second-token-value"])
    given: List[str] = []

    def handler(path: str, query: Dict[str, List[str]], headers: Dict[str, str]
                ) -> Tuple[int, Dict, bytes]:
        given.append(headers.get("authorization", ""))
        if headers.get("authorization") != "Bearer second-token-value":
            return 401, {}, json.dumps({"message": "token expired"}).encode()
        return 200, {}, json.dumps({"total": 3, "vms": vms(0, 3)}).encode()

    server = scripted(handler)
    post = server.httpd.RequestHandlerClass

    def do_post(self: Any) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"token": next(tokens), "expiresIn": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    post.do_POST = do_post  # type: ignore[attr-defined]
    config = write_config(tmp_path, server.url, extra=profile(auth=True,
                                                              paging={"style": "none"}))
    names, _ = listing_of(config)
    assert names == ["vm-0", "vm-1", "vm-2"]
    assert given == ["Bearer first-token-value", "Bearer second-token-value"]
