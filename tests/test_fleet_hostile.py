"""check_iaso_fleet against what an outside attack found: listings that look complete and are
not, an empty fleet, a core too slow to take every result, names a core would misread, numbers
and words beyond reason, a snapshot kept under a clock that was ahead, two VMs of one core host.

Listings are the simulator's answers replaced whole (the ``vm_list`` body fault), in the shape
docs/openapi.yaml gives; what a core reads is read back as the core reads it.
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from certificates import Authority
from conftest import play
from test_fleet_probe import configure, run, spooled

from libiaso.config.credentials import Credentials
from libiaso.config.fleet_settings import Icinga2Settings
from libiaso.deadline import Deadline
from libiaso.errors import DeliveryError
from libiaso.fleet.delivery import Icinga2Api
from libiaso.fleet.passive import PassiveResult
from libiaso.redaction import Redactor
from libiaso.states import State

HOUR = 3600.0


def vm(index: int, *, name: Optional[str] = None, group: str = "g1", hours: float = 1.0,
       status: str = "Completed") -> Dict[str, Any]:
    moment = time.time() - hours * HOUR
    return {"id": f"id-{index}", "name": name or f"vm-{index}", "group": group,
            "protection": "protected",
            "lastBackup": {"time": moment, "lastSuccessTime": moment, "status": status}}


def listing(sim: Any, vms: List[Dict[str, Any]], total: Any = "count") -> None:
    """The whole fleet in one answer; ``total``: its count, "absent", or the value given."""
    document: Dict[str, Any] = {"vms": vms}
    if total == "count":
        document["total"] = len(vms)
    elif total != "absent":
        document["total"] = total
    play(sim, {"endpoints": {"vm_list": {"body": {"json": document}}}})


def first_line(outcome: Any) -> str:
    return str(outcome.output.split("\n", 1)[0])


@pytest.mark.parametrize("total", ["absent", None], ids=["crit-total-left-out",
                                                       "crit-total-null"])
def test_a_page_cut_short_without_its_total_is_not_taken_for_the_last(
        tmp_path: Path, sim: Any, total: Any) -> None:
    """Pages of 1000 asked, 100 answered (a server-side cap) and no total: the listing may go
    on; a fleet of 100 must not be reported as the whole."""
    listing(sim, [vm(n) for n in range(100)], total)
    outcome = run(configure(tmp_path, sim.url))
    assert outcome.code == 2, outcome.output
    assert "no total (field 'total')" in first_line(outcome)
    assert spooled(tmp_path) == []


def test_unknown_an_empty_fleet_says_nothing_and_keeps_the_last_snapshot(
        tmp_path: Path, sim: Any) -> None:
    config = configure(tmp_path, sim.url)
    listing(sim, [vm(n) for n in range(30)])
    assert run(config).code == 0
    snapshot = tmp_path / "state" / "lab" / "fleet.json"
    listing(sim, [])
    empty = run(config, "--full")       # an incremental run would see "no change", rightly
    assert empty.code == 3, empty.output
    assert "the API lists no VM" in first_line(empty)
    assert "the snapshot is kept" in empty.output
    assert len(json.loads(snapshot.read_text())["vms"]) == 30


def test_unknown_an_empty_fleet_from_the_first_run(tmp_path: Path, sim: Any) -> None:
    listing(sim, [])
    outcome = run(configure(tmp_path, sim.url))
    assert outcome.code == 3 and "the API lists no VM" in first_line(outcome), outcome.output


@pytest.mark.parametrize("names,match", [
    (("web01", "web01"), "name"), (("WEB01", "web01"), "name"),
    (("web01.site-a.example", "web01.site-b.example"), "short"),
], ids=["crit-same-name-twice", "crit-names-differing-in-case",
        "crit-two-domains-one-short-name"])
def test_a_core_host_of_two_vms_keeps_the_worse_at_every_run(
        tmp_path: Path, sim: Any, names: Any, match: str) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("web01\n")
    config = configure(tmp_path, sim.url, fleet={"delivery": {
        "route": "spool", "spool_dir": str(tmp_path / "spool"),
        "per_vm": {"hosts_file": str(hosts), "match": match}}})
    listing(sim, [vm(1, name=names[0]), vm(2, name=names[1], hours=60)])
    seen = []
    for _ in range(4):
        for path in (tmp_path / "spool").iterdir():
            path.unlink()
        run(config)
        seen.append([r["return_code"] for r in spooled(tmp_path)
                     if r["service_description"] == "IASO backup freshness"])
    assert seen[0] == ["2"] and all(codes in ([], ["2"]) for codes in seen), seen


@pytest.mark.parametrize("prefix", ["IASO fleet\n", "IASO fleet\t", "\rIASO fleet ",
                                    "IASO\u2028fleet "],
                         ids=["unknown-prefix-ending-in-a-newline", "unknown-prefix-with-a-tab",
                              "unknown-prefix-with-a-carriage-return",
                              "unknown-prefix-with-a-line-separator"])
def test_a_service_prefix_a_core_would_split_is_refused(tmp_path: Path, sim: Any,
                                                        prefix: str) -> None:
    listing(sim, [vm(1)])
    config = configure(tmp_path, sim.url, fleet={"delivery": {
        "route": "spool", "spool_dir": str(tmp_path / "spool"), "service_prefix": prefix}})
    outcome = run(config)
    assert outcome.code == 3, outcome.output
    assert "service_prefix" in first_line(outcome) and "control character" in \
        first_line(outcome)
    assert list((tmp_path / "spool").iterdir()) == [] and sim.counters["vm_list"] == 0


@pytest.mark.parametrize("rule", [
    {"warning_hours": float("inf")}, {"critical_hours": 1e308},
    {"warning_hours": 30, "critical_hours": float("nan")},
], ids=["unknown-infinite-hours", "unknown-hours-beyond-reason", "unknown-hours-not-a-number"])
def test_thresholds_beyond_reason_are_refused_by_name(tmp_path: Path, sim: Any,
                                                      rule: Dict[str, Any]) -> None:
    listing(sim, [vm(1, group="archive")])
    hosts = tmp_path / "hosts"
    hosts.write_text("vm-1\n")
    config = configure(tmp_path, sim.url, fleet={"groups": {"archive": rule}, "delivery": {
        "route": "spool", "spool_dir": str(tmp_path / "spool"),
        "per_vm": {"hosts_file": str(hosts)}}})
    outcome = run(config)
    assert outcome.code == 3, outcome.output
    assert "fleet.groups.archive." in first_line(outcome)
    assert "internal error" not in outcome.output


def test_words_of_any_script_are_told_apart(tmp_path: Path, sim: Any) -> None:
    listing(sim, [vm(n, status="Успешно") for n in range(5)]
            + [vm(n, status="Ошибка") for n in range(5, 7)])
    config = configure(tmp_path, sim.url, fleet={"words": {"failed": ["Ошибка"]}})
    outcome = run(config)
    assert "failed=2;" in outcome.output, outcome.output
    listing(sim, [vm(1, status="E\u0301choue\u0301"), vm(2, status="Réussi")])   # NFD
    composed = configure(tmp_path, sim.url, fleet={"words": {"failed": ["Échoué"]}})
    assert "failed=1;" in run(composed).output
    config = configure(tmp_path, sim.url, fleet={"words": {"failed": ["---"]}})
    refused = run(config)
    assert refused.code == 3 and "holds no letter or digit" in first_line(refused)


def test_ok_a_time_of_0_is_no_backup_and_a_negative_one_is_the_apis_fault(
        tmp_path: Path, sim: Any) -> None:
    never, before_1970 = vm(1), vm(2)
    never["lastBackup"] = {"time": 0, "lastSuccessTime": 0, "status": ""}
    before_1970["lastBackup"] = {"time": -5, "lastSuccessTime": -5, "status": "Completed"}
    listing(sim, [never, before_1970, vm(3)])
    outcome = run(configure(tmp_path, sim.url))
    assert "never=1;" in outcome.output and "invalid=1;" in outcome.output, outcome.output


def test_a_snapshot_kept_under_a_clock_ahead_holds_nothing_back(tmp_path: Path,
                                                                  sim: Any) -> None:
    """Written while the clock was a day ahead, then the clock put right: VM results are sent
    (their marks are not "sent a moment ago") and the fleet is listed whole (the last full
    listing is not "recent")."""
    hosts = tmp_path / "hosts"
    hosts.write_text("vm-1\nvm-2\n")
    config = configure(tmp_path, sim.url, fleet={"delivery": {
        "route": "spool", "spool_dir": str(tmp_path / "spool"),
        "per_vm": {"hosts_file": str(hosts), "refresh_minutes": 60}}})
    listing(sim, [vm(1), vm(2)])
    run(config)
    path = tmp_path / "state" / "lab" / "fleet.json"
    kept = json.loads(path.read_text())
    for mark in kept["sent"].values():
        mark[1] += 86400
    kept["listed_at"] -= 10   # an incremental run would be due ...
    kept["full_at"] += 86400  # ... were the last full listing not from the future
    path.write_text(json.dumps(kept))
    for spooled_file in (tmp_path / "spool").iterdir():
        spooled_file.unlink()
    again = run(config)
    assert "full listing of 2" in first_line(again), again.output
    assert sorted(r["host_name"] for r in spooled(tmp_path)
                  if r["service_description"] == "IASO backup freshness") == ["vm-1", "vm-2"]


def test_warn_a_core_too_slow_for_every_result_is_said_and_its_tail_goes_first_next(
        tmp_path: Path, sim: Any) -> None:
    """A command FIFO open on the core's side and never read: what fits in the pipe is taken,
    the rest is not silently dropped, and the next run starts with what was left."""
    listing(sim, [vm(n, group=f"group-{n:04d}") for n in range(600)])
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    config = configure(tmp_path, sim.url, spool=False, fleet={"delivery": {
        "route": "command_file", "command_file": str(fifo)}})
    seen = []
    for _ in range(2):
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            outcome = _run_with(config, "4")
            data = b""
            while True:
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(reader)
        assert outcome.code == 1, outcome.output
        assert "results not delivered this run (the core took them too slowly through" \
            in first_line(outcome)
        seen.append({line.split(";")[2] for line in data.decode().splitlines()})
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def _run_with(config: Path, timeout: str) -> Any:
    from iaso_probes.check_iaso_fleet import probe

    return probe.run(["-C", str(config), "-t", timeout])


@pytest.fixture
def dripping_icinga(tmp_path: Path) -> Iterator[Icinga2Settings]:
    """An Icinga 2 API over TLS that answers every call one byte every 0.3 s."""
    authority = Authority(tmp_path / "pki")
    authority.issue("icinga")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "pki" / "icinga.pem"),
                            str(tmp_path / "pki" / "icinga.key"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 46\r\n"
              b"\r\n" + b'{"results": [{"code": 200.0, "status": "ok"}]}')

    def drip(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                for index in range(len(answer)):
                    if stop.wait(0.3):
                        return
                    tls.sendall(answer[index:index + 1])
        except OSError:
            pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    password = tmp_path / "icinga.password"
    password.write_text("icinga-secret\n")
    password.chmod(0o600)
    yield Icinga2Settings(f"https://127.0.0.1:{listener.getsockname()[1]}",
                          Credentials("iaso", str(password)),
                          str(tmp_path / "pki" / "ca.pem"), concurrency=4, timeout=2.0)
    stop.set()
    listener.close()


def test_warn_an_icinga_api_that_drips_is_left_within_the_deadline(
        dripping_icinga: Icinga2Settings) -> None:
    results = [PassiveResult("iaso-fleet-lab", f"IASO fleet g{n}", State.OK, "fine")
               for n in range(20)]
    started = time.monotonic()
    try:
        delivered = Icinga2Api(dripping_icinga, Redactor()).deliver(results, Deadline(4),
                                                                    time.time())
    except DeliveryError as exc:
        assert "no answer within" in exc.message
    else:
        assert len(delivered.left) == 20 and not delivered.sent
    assert time.monotonic() - started < 4.0
