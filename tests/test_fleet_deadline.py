"""The fleet check and its own deadline: work started too late to finish is the probe's running
out of time (UNKNOWN), never the API's or the core's fault, and no step is started without the
time it needs.

- The delivery route owns the time it needs (delivery.time_needed): the collector keeps that
  back from the listing, so a listing that uses its whole share still leaves Icinga 2's API the
  time to be given every result.
- Results left because the delivery began with less than that are not blamed on the core; an
  Icinga 2 call its shortened timeout cut at the deadline is left, not a fatal error.
- The snapshot's lock is waited for only while the listing could still have its fair share, and
  the listing is never started without it.
- A listing read again from the start that the deadline cuts still ends with its fault.

Time is moved, not slept: the deadline is shifted where the run would have spent it (a listing
using its whole share, another run holding the lock), so that each case is exact.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import pytest
from certificates import Authority
from conftest import play, write_config
from test_fleet_listing import Scripted, profile, vms
from test_fleet_probe import CLEAN, configure

from iaso_probes.check_iaso_fleet import problems_of
from libiaso.api.client import IasoClient
from libiaso.config.credentials import Credentials
from libiaso.config.fleet_settings import Icinga2Settings
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline
from libiaso.errors import ApiTimeout, ListingDefect, OutOfTime
from libiaso.fleet import collector as collector_module
from libiaso.fleet.collection import collect
from libiaso.fleet.collector import Collector, CollectorOutcome
from libiaso.fleet.delivery import DeliveryError, Icinga2Api
from libiaso.fleet.passive import PassiveResult
from libiaso.fleet.snapshot import Snapshot
from libiaso.redaction import Redactor
from libiaso.states import State, state_for


def shift(deadline: Deadline, seconds: float) -> None:
    """As if ``seconds`` had passed: the deadline (and its start) that much nearer."""
    deadline.at -= seconds
    deadline.started -= seconds


def leave(deadline: Deadline, seconds: float) -> None:
    """As if time had passed until ``seconds`` are left."""
    shift(deadline, deadline.remaining() - seconds)


class FakeIcinga:
    """Icinga 2's ``process-check-result`` over TLS: every call answered at once, but those
    for the services in ``hang``, which get no answer (``on_hang`` is called first)."""

    def __init__(self, directory: Path) -> None:
        authority = Authority(directory / "pki")
        authority.issue("icinga")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(directory / "pki" / "icinga.pem"),
                                str(directory / "pki" / "icinga.key"))
        self.posts: List[str] = []
        self.hang: Set[str] = set()
        self.on_hang: Callable[[], None] = lambda: None
        self.release = threading.Event()
        fake = self

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service = body["service"].split("!", 1)[1]
                if service in fake.hang:
                    fake.on_hang()
                    fake.release.wait(10)
                    return
                fake.posts.append(service)
                answer = json.dumps({"results": [{"code": 200.0, "status": "ok"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.ca_file = str(directory / "pki" / "ca.pem")
        self.password_file = directory / "icinga.password"
        self.password_file.write_text("icinga-secret\n")
        self.password_file.chmod(0o600)

    def settings(self, timeout: float = 10.0) -> Icinga2Settings:
        return Icinga2Settings(self.url, Credentials("iaso", str(self.password_file)),
                               self.ca_file, concurrency=4, timeout=timeout)

    def delivery(self) -> Dict[str, Any]:
        """The fleet's ``delivery`` section for this API."""
        return {"route": "icinga2", "icinga2": {
            "url": self.url, "ca_file": self.ca_file, "username": "iaso",
            "password_file": str(self.password_file)}}

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def icinga(tmp_path: Path) -> Iterator[FakeIcinga]:
    fake = FakeIcinga(tmp_path)
    yield fake
    fake.stop()


def collector(config: Path, deadline: Deadline) -> Collector:
    environment = load_config(str(config)).environment("lab")
    return Collector(IasoClient(environment, deadline), environment, deadline, Redactor(),
                     full=True)


def run_collector(config: Path, deadline: Deadline) -> CollectorOutcome:
    work = collector(config, deadline)
    try:
        return work.run()
    finally:
        work.client.close()


def listing_then(monkeypatch: pytest.MonkeyPatch,
                 after: Callable[[Deadline, float, Callable[[], float]], None],
                 deadline: Deadline) -> None:
    """The collector's listing, followed by ``after(deadline, cutoff, clock)``: where the test
    spends the time the listing (and the judging) would have taken."""
    def listed(*args: Any, **kwargs: Any) -> Any:
        collection = collect(*args, **kwargs)
        after(deadline, kwargs["cutoff"], kwargs["clock"])
        return collection
    monkeypatch.setattr(collector_module, "collect", listed)


def left_in_snapshot(tmp_path: Path) -> List[str]:
    return list(json.loads((tmp_path / "state" / "lab" / "fleet.json").read_text())["left"])


# --- the delivery's time, kept back from the listing ------------------------------------------


@pytest.mark.parametrize("timeout", [3.0, 5.0, 10.0, 13.0],
                         ids=["ok-t3", "ok-t5", "ok-t10", "ok-t13"])
def test_ok_a_listing_using_its_whole_share_leaves_icinga2_the_time_to_take_every_result(
        timeout: float, tmp_path: Path, sim: Any, icinga: FakeIcinga,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's case: -t 10, a listing of 6.3 s. The listing used to be given up to
    three quarters of the time, where Icinga 2's route then submitted nothing with less than
    0.5 s + timeout/4 (3 s) left: WARNING at every run, blaming the core, and no result sent."""
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url, spool=False, fleet={"delivery": icinga.delivery()})
    deadline = Deadline(timeout)

    def at_the_cutoff(deadline: Deadline, cutoff: float, clock: Callable[[], float]) -> None:
        shift(deadline, max(0.0, cutoff - clock()))   # the listing ended at its cutoff

    listing_then(monkeypatch, at_the_cutoff, deadline)
    outcome = run_collector(config, deadline)
    delivery = outcome.delivery
    assert delivery.groups >= 5
    assert (delivery.sent, delivery.left, delivery.refused_count) == (delivery.groups, 0, 0)
    assert len(icinga.posts) == delivery.groups


def test_warn_results_left_because_the_delivery_began_too_late_do_not_blame_the_core(
        tmp_path: Path, sim: Any, icinga: FakeIcinga, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's own steps used the time the delivery needed (here: 1.2 s left where
    Icinga 2's route starts no call under 1.5 s): no call could be made. The core is not
    blamed ("the core took them too slowly"), the fleet's own judgement stands (it is not
    hidden behind an UNKNOWN), the shortfall is a WARNING saying to raise -t, and the
    snapshot keeps the results left, which go first at the next run."""
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url, spool=False, fleet={"delivery": icinga.delivery()})
    deadline = Deadline(10)
    listing_then(monkeypatch, lambda d, cutoff, clock: leave(d, 1.2), deadline)
    outcome = run_collector(config, deadline)
    assert outcome.delivery.left >= 5 and outcome.delivery.sent == 0
    assert outcome.delivery.late == ("the delivery (icinga2) began with 1.2 s of the deadline "
                                     "(-t 10) left, after 7.8 s of listing and judging, where "
                                     "it needs 2.5 s: raise -t"), outcome.delivery.late
    said = problems_of(outcome)
    assert any(p.startswith(f"{outcome.delivery.left} results not delivered within -t, they "
                            "go first next run: the delivery (icinga2) began") for p in said)
    assert not any("the core took them too slowly" in p for p in said)
    assert icinga.posts == []
    left = left_in_snapshot(tmp_path)
    assert len(left) == outcome.delivery.left

    monkeypatch.undo()
    again = run_collector(config, Deadline(10))
    assert (again.delivery.sent, again.delivery.left) == (len(left), 0)
    assert sorted(f"iaso-fleet-lab!{service}" for service in icinga.posts) == sorted(left)


def test_warn_an_icinga2_call_its_shortened_timeout_cut_is_left_not_a_fatal_error(
        icinga: FakeIcinga) -> None:
    """A call started with less than its timeout left is given what is left; when the
    deadline cuts it, its result is left like one still in flight there. It used to be a
    DeliveryError: the whole run UNKNOWN, the fleet's state and the other results' lost.

    Which of the two ends first (the wait for answers, stopped at the deadline, or the call's
    own shortened timeout) is a race in a real run; here the deadline moves on once the call
    is in flight, so the call's timeout is always first."""
    deadline = Deadline(10)
    leave(deadline, 2.0)    # each call's timeout: 1.5 s of its 2 s
    icinga.hang = {"IASO fleet g7"}
    icinga.on_hang = lambda: shift(deadline, -5.0)
    results = [PassiveResult("iaso-fleet-lab", f"IASO fleet g{n}", State.OK, "fine")
               for n in range(8)]
    started = time.monotonic()
    delivered = Icinga2Api(icinga.settings(timeout=2.0), Redactor()).deliver(
        results, deadline, time.time())
    assert 1.4 < time.monotonic() - started < 3.0
    assert [r.service for r in delivered.left] == ["IASO fleet g7"]
    assert len(delivered.sent) == 7 and not delivered.refused


# --- the listing never started without its fair share ----------------------------------------


@pytest.fixture
def lock_of(tmp_path: Path) -> Iterator[Callable[[], Optional[int]]]:
    """The snapshot's lock, taken as another run would; called again, it is released."""
    held: List[int] = []
    path = tmp_path / "state" / "lab" / "fleet.json.lock"

    def toggle() -> Optional[int]:
        if held:
            fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held.pop())
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        held.append(os.open(path, os.O_WRONLY | os.O_CREAT, 0o640))
        fcntl.flock(held[0], fcntl.LOCK_EX)
        return held[0]

    yield toggle
    for fd in held:
        os.close(fd)


class HeldFor(Deadline):
    """A deadline at whose first look another run's lock has just been held ``seconds`` (it is
    looked at only while the lock is taken): the time passes, the lock is released."""

    def __init__(self, timeout: float, seconds: float, release: Callable[[], Any]) -> None:
        super().__init__(timeout)
        self.seconds = seconds
        self.release: Optional[Callable[[], Any]] = release

    def remaining(self) -> float:
        if self.release is not None:
            shift(self, self.seconds)
            self.release()
            self.release = None
        return super().remaining()


def test_unknown_the_snapshot_locked_by_another_run_until_no_time_is_left_for_the_listing(
        tmp_path: Path, sim: Any, lock_of: Callable[[], Optional[int]]) -> None:
    """The review's case: -t 3, another run holding the lock 1.6 s. The lock used to be
    waited for until 1 s was left and the listing then given at least 0.5 s, past what was
    left: CRITICAL, "the listing stopped after 0 entries ... no time left"."""
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url)
    lock_of()
    before = sim.counters["vm_list"]
    with pytest.raises(OutOfTime) as caught:
        run_collector(config, HeldFor(3, 1.6, lock_of))
    assert state_for(caught.value) is State.UNKNOWN
    message = caught.value.message
    assert message.startswith("no time left for the listing: the fleet snapshot "), message
    assert "stayed locked by another run for 1.6 s, 1.1 s of the deadline (-t 3) left" \
        in message, message
    assert sim.counters["vm_list"] == before
    assert not (tmp_path / "state" / "lab" / "fleet.json").exists()


def test_unknown_no_listing_started_without_its_fair_share_of_time(tmp_path: Path,
                                                                  sim: Any) -> None:
    """The lock free, but the probe's earlier steps took the time: 1.5 s left of -t 3, of
    which the spool's delivery keeps 1.2 s. The listing was started with 0.5 s at least."""
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url)
    deadline = Deadline(3)
    leave(deadline, 1.5)
    before = sim.counters["vm_list"]
    with pytest.raises(OutOfTime, match=r"^no time left for the listing: earlier steps took "
                                        r"1\.2 s, 1\.5 s of the deadline \(-t 3\) left, 1\.2 s "
                                        r"of it kept for the delivery \(spool\), where the "
                                        r"listing needs at least 0\.7 s"):
        run_collector(config, deadline)
    assert sim.counters["vm_list"] == before


def test_ok_a_lock_released_in_time_is_noted_and_the_run_goes_on(
        tmp_path: Path, sim: Any, lock_of: Callable[[], Optional[int]]) -> None:
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url)
    lock_of()
    outcome = run_collector(config, HeldFor(10, 1.6, lock_of))
    assert any(re.fullmatch(r"the fleet snapshot was locked by another run: waited 1\.[67] s",
                            note) for note in outcome.notes), outcome.notes
    assert outcome.delivery.sent == outcome.delivery.groups > 0


# --- a listing read again, cut by the deadline --------------------------------------------------


def test_crit_a_listing_read_again_and_cut_by_the_deadline_still_names_its_fault(
        tmp_path: Path) -> None:
    """The first reading does not add up and ends at once, so a second one is started; the
    deadline cuts that one. The run used to end with the cut ("no time left in the probe's
    deadline"), the listing's fault unsaid."""
    now = [0.0]
    answer = json.dumps({"total": 5, "vms": vms(0, 3)}).encode()

    def handler(path: str, query: Any, headers: Any) -> Any:
        if len(server.requests) == 2:
            now[0] = 200.0     # the second reading takes past the cutoff
        return 200, {}, answer

    server = Scripted(handler)
    config = write_config(tmp_path, server.url, extra=profile(paging={"style": "none"}))
    environment = load_config(str(config)).environment("lab")
    client = IasoClient(environment, Deadline(60))
    try:
        with pytest.raises(ListingDefect, match=r"^3 entries listed where the total says 5: "
                                                r"the listing stopped early .*; read again "
                                                r"from the start, that reading stopped after "
                                                r"0( of 5)? entries, 1 request\(s\): .*no time "
                                                r"left"):
            collect(client, environment, Snapshot("b"), now=time.time(), cutoff=100.0,
                    clock=lambda: now[0])
    finally:
        client.close()
        server.stop()
    assert len(server.requests) == 2


def test_unknown_a_listing_started_late_and_cut_is_the_probes_time_not_the_apis(
        tmp_path: Path, sim: Any, lock_of: Callable[[], Optional[int]]) -> None:
    """Another run held the lock 6 s of -t 10: the listing ran 3 s at most, less than half of -t.
    Its page cut at the deadline says nothing of the API (it was CRITICAL, a healthy API's
    slow page blamed)."""
    play(sim, {"inventory": CLEAN, "endpoints": {"vm_list": {"hang": True}}})
    config = configure(tmp_path, sim.url)
    lock_of()
    with pytest.raises(OutOfTime) as caught:
        run_collector(config, HeldFor(10, 6.0, lock_of))
    message = caught.value.message
    assert re.search(r"; it ran [23]\.\d s of the deadline \(-t 10\), less than half, as the "
                     r"fleet snapshot was locked by another run for 6\.\d s$", message), message


@pytest.mark.parametrize("route", ["spool", "icinga2"])
def test_crit_a_listing_that_ran_half_of_t_and_was_cut_is_the_apis(
        tmp_path: Path, sim: Any, icinga: FakeIcinga, route: str) -> None:
    """Judged by the time the listing ran, not the share it was meant to have: with Icinga 2's
    larger reserve under -t 5, a hung page still waited most of the run."""
    play(sim, {"inventory": CLEAN, "endpoints": {"vm_list": {"hang": True}}})
    config = configure(tmp_path, sim.url, **({} if route == "spool" else {
        "spool": False, "fleet": {"delivery": icinga.delivery()}}))
    with pytest.raises(ApiTimeout, match=r"^the listing stopped after 0 entries"):
        run_collector(config, Deadline(5))


def test_warn_an_icinga2_call_without_an_answer_within_its_timeout_is_left(
        icinga: FakeIcinga) -> None:
    """A core that hangs on one object: its result is left (WARNING, the core's problem, the
    others delivered and the snapshot written), not a DeliveryError ending the run UNKNOWN."""
    icinga.hang = {"IASO fleet g3"}
    results = [PassiveResult("iaso-fleet-lab", f"IASO fleet g{n}", State.OK, "fine")
               for n in range(8)]
    delivered = Icinga2Api(icinga.settings(timeout=0.5), Redactor()).deliver(
        results, Deadline(10), time.time())
    icinga.release.set()
    assert [r.service for r in delivered.left] == ["IASO fleet g3"]
    assert len(delivered.sent) == 7


def test_unknown_an_icinga2_api_that_takes_no_connection_is_unreachable_not_slow(
        icinga: FakeIcinga) -> None:
    """A listener whose queue is full drops the connection attempt (a TCP connect timeout):
    the core is not reached at all, which is the route's problem to fix, not a slow core."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filling = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(listener.getsockname())
        filling.append(client)
    settings = icinga.settings(timeout=0.5)._replace(
        url=f"https://127.0.0.1:{listener.getsockname()[1]}")
    results = [PassiveResult("iaso-fleet-lab", "IASO fleet g1", State.OK, "fine")]
    try:
        with pytest.raises(DeliveryError, match=r"unreachable \(no connection within 0\.5 s\)"):
            Icinga2Api(settings, Redactor()).deliver(results, Deadline(10), time.time())
    finally:
        for client in filling:
            client.close()
        listener.close()
