"""Job checks on several pollers without a shared disk: the API's job listing decides.

Two pollers are two state directories (two machines' disks) with one API: whichever runs when a
launch is due launches, the other finds that job in the host's recent jobs and follows it, and
each relaunch period has one launch per target, whoever runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from conftest import play
from job_harness import HOUR, Clocked, clock_the_probes, job_config, poller, run

from libiaso.jobs.ledger import same_trait


@pytest.fixture
def clocked(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return clock_the_probes(sim, monkeypatch)


LONG = {"job_speed": 1, "job_duration": HOUR}


def test_ok_a_second_poller_follows_the_jobs_the_first_launched(sim: Any, tmp_path: Path,
                                                                 clocked: Clocked) -> None:
    play(sim, LONG)
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    launched = run("backup", first, "-S", "linux")
    assert launched.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups")
    clocked.advance(600)
    followed = run("backup", second, "-S", "linux")
    assert followed.code == 0, followed.output
    assert followed.first_line.startswith(
        "IASO BACKUP OK - lab: following 3 backups (3 launched by another run)")
    assert sim.counters["backup"] == 3
    for minutes in range(20, 121, 10):      # checks land on either poller, turn by turn
        clocked.advance(600)
        outcome = run("backup", first if minutes % 20 else second, "-S", "linux")
        assert outcome.code == 0, outcome.output
    assert "3 of 3 backups completed" in outcome.first_line
    assert sim.counters["backup"] == 3


def test_ok_one_launch_per_period_whichever_poller_runs(sim: Any, tmp_path: Path,
                                                        clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": 600})
    pollers = [poller(tmp_path, sim, name) for name in ("a", "b")]
    for period in range(3):
        for turn in range(8):                 # 8 runs a period, alternating, 15 min apart
            run("backup", pollers[(period + turn) % 2], "-S", "linux",
                "--relaunch-after", str(2 * HOUR))
            clocked.advance(900)
        assert sim.counters["backup"] == 3 * (period + 1), f"period {period}"


def test_crit_a_failed_job_is_reported_by_the_poller_that_did_not_launch_it(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": 600,
               "hosts": {"vm-b": {"outcome": "failed", "at_percent": 40}}})
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    run("backup", first, "-S", "linux")
    clocked.advance(900)
    failed = run("backup", second, "-S", "linux")    # its first run: the jobs have ended
    assert failed.code == 2 and "1 of 3 backups failed: vm-b (Failed)" in failed.first_line, \
        failed.output
    assert sim.counters["backup"] == 3 and sim.counters["job_status"] == 3
    clocked.advance(900)
    again = run("backup", second, "-S", "linux")
    assert again.code == 2 and "1 of 3 backups failed: vm-b (Failed)" in again.first_line
    assert sim.counters["backup"] == 3 and sim.counters["job_status"] == 3


def test_ok_jobs_of_another_level_or_account_are_not_taken_for_ours(sim: Any, tmp_path: Path,
                                                                   clocked: Clocked) -> None:
    import requests

    play(sim, LONG)
    token = requests.post(sim.url + "/login", timeout=5,
                          json={"username": sim.scenario.username,
                                "password": sim.scenario.password}).json()["token"]
    requests.post(sim.url + "/backups", timeout=5, headers={"Authorization": f"Bearer {token}"},
                  json={"hostname": "vm-a", "backupLevel": "full"})   # vm-a's level: incremental
    sim.jobs.recent("backup", "vm-a", sim.scenario)[0][0].details["user"] = "someone-else"
    requests.post(sim.url + "/backups", timeout=5, headers={"Authorization": f"Bearer {token}"},
                  json={"hostname": "vm-c", "backupLevel": "incremental"})
    sim.jobs.recent("backup", "vm-c", sim.scenario)[0][0].details["user"] = "someone-else"
    outcome = run("backup", poller(tmp_path, sim, "a"), "-S", "linux")
    assert outcome.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        outcome.output
    assert sim.counters["backup"] == 5


def test_ok_without_a_job_listing_each_poller_keeps_its_own_state(sim: Any, tmp_path: Path,
                                                                  clocked: Clocked) -> None:
    play(sim, LONG)
    no_listing: Dict[str, Any] = {"version": 2, "endpoints": {"job_list": None}}
    first = poller(tmp_path, sim, "a", **no_listing)
    second = poller(tmp_path, sim, "b", **no_listing)
    run("backup", first, "-S", "linux")
    run("backup", second, "-S", "linux")
    assert sim.counters["backup"] == 6   # the documented single-poller behaviour


def test_crit_a_listing_that_cannot_be_read_launches_nothing(sim: Any, tmp_path: Path,
                                                            clocked: Clocked) -> None:
    play(sim, dict(LONG, endpoints={"job_list": {"status": 503}}))
    outcome = run("backup", poller(tmp_path, sim, "a"), "-S", "linux")
    assert outcome.code == 2 and "job listing of vm-a failed: " in outcome.first_line, \
        outcome.output
    assert sim.counters["backup"] == 0
    play(sim, LONG)
    again = run("backup", poller(tmp_path, sim, "b"), "-S", "linux")
    assert again.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups")


def test_crit_a_listing_holding_another_hosts_job_is_refused(sim: Any, tmp_path: Path,
                                                            clocked: Clocked) -> None:
    play(sim, dict(LONG, endpoints={"job_list": {"body": {"json": {"jobs": [
        {"jobId": 7, "hostname": "vm-z", "kind": "backup", "status": "Running",
         "startTime": int(clocked()), "user": "nagios", "level": "incremental"}]}}}}))
    outcome = run("backup", poller(tmp_path, sim, "a"), "-S", "linux")
    assert outcome.code == 2 and "of another host" in outcome.first_line, outcome.output
    assert sim.counters["backup"] == 0


@pytest.mark.parametrize("status", [404, 405, 501])
def test_ok_an_api_without_a_job_listing_launches_and_says_what_several_pollers_risk(
        status: int, sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """The listing comes with the built-in contract (the site's profile does not write it)."""
    play(sim, dict(LONG, endpoints={"job_list": {"status": status}}))
    outcome = run("backup", poller(tmp_path, sim, "a"), "-S", "linux")
    assert outcome.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        outcome.output
    assert outcome.output.count("the API has no job listing") == 1, outcome.output
    assert "job_list: null" in outcome.output
    assert sim.counters["backup"] == 3 and sim.counters["job_list"] == 3


def test_crit_a_job_listing_the_site_wrote_that_answers_404_launches_nothing(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """A listing the site configured itself and that is not there is a mistake to fix (a path
    mistyped), not an API without one."""
    play(sim, LONG)
    config = poller(tmp_path, sim, "a", version=2,
                    endpoints={"job_list": {"path": "/job-history"}})
    outcome = run("backup", config, "-S", "linux")
    assert outcome.code == 2, outcome.output
    assert "the job listing of vm-a failed" in outcome.first_line and "404" in \
        outcome.first_line, outcome.output
    assert sim.counters["backup"] == 0


@pytest.mark.parametrize("rule,fault", [
    ({"status": [404]}, {"status": 404}),
    ({"field": "total", "in": [0]}, {"body": {"json": {"total": 0}}}),
], ids=["ok-no-jobs-said-with-404", "ok-no-jobs-said-with-a-marker-field"])
def test_a_listing_rule_for_no_jobs_yet_launches(sim: Any, tmp_path: Path, clocked: Clocked,
                                                 rule: Dict[str, Any],
                                                 fault: Dict[str, Any]) -> None:
    """Some APIs say "this host has no jobs" with a 404 or a marker and no list at all: named in
    the listing's not_visible rule, that is an empty listing, not a failure for ever."""
    play(sim, dict(LONG, endpoints={"job_list": fault}))
    listing: Dict[str, Any] = {"not_visible": rule}
    if "field" in rule:
        listing["fields"] = {"total": "total"}
    config = poller(tmp_path, sim, "a", version=2, endpoints={"job_list": listing})
    outcome = run("backup", config, "-S", "linux")
    assert outcome.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        outcome.output
    assert sim.counters["job_list"] == 3 and sim.counters["backup"] == 3


def test_crit_a_listing_with_a_no_jobs_rule_that_answers_otherwise_launches_nothing(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, dict(LONG, endpoints={"job_list": {"status": 503}}))
    config = poller(tmp_path, sim, "a", version=2,
                    endpoints={"job_list": {"not_visible": {"status": [404]}}})
    outcome = run("backup", config, "-S", "linux")
    assert outcome.code == 2 and "503" in outcome.first_line, outcome.output
    assert sim.counters["backup"] == 0


def test_ok_a_first_form_profile_asks_no_listing(sim: Any, tmp_path: Path,
                                                 clocked: Clocked) -> None:
    """Version 1 profiles keep what they always did: an API of the first days may lack the
    listing, and a site with one poller needs none."""
    play(sim, LONG)
    outcome = run("backup", job_config(tmp_path, sim), "-S", "linux")   # no profile section
    assert outcome.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        outcome.output
    assert sim.counters["job_list"] == 0 and "job listing" not in outcome.output


def test_ok_restores_to_other_destinations_are_not_taken_for_ones_own(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """Two restore services of one VM differ by destination only: on another poller each finds
    the job of its own destination in the listing, never the other's."""
    play(sim, LONG)
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    common = ("-H", "vm-a", "--file", "hosts", "--path", "/etc")
    run("restore", first, *common, "--destination", "/tmp/one")
    other = run("restore", second, *common, "--destination", "/tmp/two")
    assert other.first_line.startswith("IASO RESTORE OK - lab: launched 1 restore"), \
        other.output
    clocked.advance(600)
    same = run("restore", second, *common, "--destination", "/tmp/one")
    assert "launched by another run" in same.first_line, same.output
    assert sim.counters["restore"] == 2


def test_ok_a_job_another_service_follows_here_is_not_adopted_without_listed_traits(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """A listing that names no restore destination (Commvault's) cannot tell two restore
    services apart; on one machine the other service's state file can."""
    play(sim, LONG)
    unnamed = {"file_name": None, "source_path": None, "destination": None}
    config = poller(tmp_path, sim, "a", version=2,
                    endpoints={"job_list": {"fields": unnamed}})
    common = ("-H", "vm-a", "--file", "hosts", "--path", "/etc")
    run("restore", config, *common, "--destination", "/tmp/one")
    other = run("restore", config, *common, "--destination", "/tmp/two")
    assert other.first_line.startswith("IASO RESTORE OK - lab: launched 1 restore"), \
        other.output
    assert sim.counters["restore"] == 2


@pytest.mark.parametrize("name,listed,wanted,same", [
    ("source_path", "/etc", "/etc/", True),
    ("destination", "/tmp/one/", "/tmp/one", True),
    ("destination", "C:\\Data", "c:\\data\\", True),
    ("source_path", "/", "/", True),
    ("level", "Synthetic Full", "SYNTHETIC_FULL", True),
    ("source_path", "/Etc", "/etc", False),
    ("file_name", "hosts", "Hosts", False),
    ("destination", "/tmp/one", "/tmp/one2", False),
    ("level", "Full", "Incremental", False),
], ids=lambda v: str(v))
def test_listed_traits_compare_as_the_api_means_them(name: str, listed: str, wanted: str,
                                                     same: bool) -> None:
    """A path written with or without its trailing separator, a Windows path in another case,
    a level in Commvault's two spellings are the same; anything else is another target's."""
    assert same_trait(name, listed, wanted) is same


def test_ok_a_launch_answered_502_that_started_the_job_is_followed_not_launched_again(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """A gateway timing out in front of a backend that went on: the job exists although the
    answer said it failed. The next run finds it in the listing; a second launch would put two
    backups on each VM."""
    play(sim, dict(LONG, endpoints={"backup": {"status": 502, "acted": True}}))
    config = poller(tmp_path, sim, "a")
    failed = run("backup", config, "-S", "linux")
    assert failed.code in (1, 2), failed.output
    assert sim.counters["backup"] == 3 and len(sim.jobs.recent("backup", "vm-a",
                                                               sim.scenario)) == 1
    play(sim, LONG)
    clocked.advance(600)
    followed = run("backup", config, "-S", "linux")
    assert followed.code == 0, followed.output
    assert followed.first_line.startswith("IASO BACKUP OK - lab: following 3 backups"), \
        followed.output
    assert sim.counters["backup"] == 3


@pytest.mark.parametrize("fault,said", [
    ({"acted": "false"}, "expected true or false"),
    ({"acted": True}, "only with an error status"),
    ({"acted": True, "status": 201}, "only with an error status"),
], ids=["unknown-acted-as-text", "unknown-acted-without-status", "unknown-acted-with-2xx"])
def test_simulator_refuses_an_acted_fault_it_cannot_play(fault: Dict[str, Any],
                                                         said: str) -> None:
    from libiaso.simulator.scenario import ScenarioError, scenario_from

    with pytest.raises(ScenarioError, match=said):
        scenario_from({"endpoints": {"backup": fault}})


def test_ok_a_first_form_profile_that_writes_part_of_the_listing_gets_the_rest(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """A version 1 site adding the listing for its second poller writes what differs (here the
    query) and gets the rest of the contract's listing, as every other version 1 endpoint."""
    play(sim, LONG)
    configs = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        config = job_config(home, sim)
        data = yaml.safe_load(config.read_text())
        data["environments"]["lab"]["profile"] = {"endpoints": {"job_list": {"query": {
            "hostname": "{hostname}", "kind": "{kind}", "since": "{since}", "limit": "50"}}}}
        config.write_text(yaml.safe_dump(data))
        configs.append(config)
    launched = run("backup", configs[0], "-S", "linux")
    assert launched.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        launched.output
    clocked.advance(600)
    followed = run("backup", configs[1], "-S", "linux")
    assert followed.first_line.startswith("IASO BACKUP OK - lab: following 3 backups"), \
        followed.output
    assert sim.counters["backup"] == 3


# --- found by an outside attack on several pollers -------------------------------------------


def _hosts_jobs(sim: Any, *hosts: str) -> Dict[str, int]:
    return {host: len(sim.jobs.recent("backup", host, sim.scenario)) for host in hosts}


@pytest.mark.parametrize("down", ["listing", "login"],
                         ids=["crit-listing-down-when-launching-again",
                              "crit-login-down-when-launching-again-one-poller"])
def test_a_target_to_launch_again_outlives_a_run_that_fails_before_launching(
        sim: Any, tmp_path: Path, clocked: Clocked, monkeypatch: pytest.MonkeyPatch,
        down: str) -> None:
    """vm-c's launch got a 503 ("launched again next run"); the next run fails before it can
    launch (the listing or the login is down). vm-c must still be there to launch, and the
    other two must not be launched again when their jobs end."""
    from libiaso.simulator.iaso import IasoContract

    play(sim, LONG)
    launch = IasoContract.backup

    def busy_for_vm_c(contract: Any, request: Any) -> Any:
        if isinstance(request.body, dict) and request.body.get("hostname") == "vm-c":
            return contract.error(503, "vm-c's media agent is busy")
        return launch(contract, request)

    monkeypatch.setattr(IasoContract, "backup", busy_for_vm_c)
    config = poller(tmp_path, sim, "a") if down == "listing" else job_config(tmp_path, sim)
    first = run("backup", config, "-S", "linux")
    assert first.code == 2 and "launched again next run" in first.output, first.output
    monkeypatch.setattr(IasoContract, "backup", launch)
    play(sim, dict(LONG, endpoints={"job_list" if down == "listing" else "login":
                                    {"status": 503}}))
    clocked.advance(600)
    failing = run("backup", config, "-S", "linux")
    assert failing.code == 2, failing.output
    play(sim, LONG)
    clocked.advance(600)
    kept = run("backup", config, "-S", "linux")
    assert "vm-c" in kept.output and kept.code == 0, kept.output
    for _ in range(8):                               # the jobs end within the hour
        clocked.advance(900)
        last = run("backup", config, "-S", "linux")
    assert last.code == 0 and "3 of 3 backups completed" in last.first_line, last.output
    assert _hosts_jobs(sim, "vm-a", "vm-b", "vm-c") == {"vm-a": 1, "vm-b": 1, "vm-c": 1}


def test_ok_a_job_still_running_from_the_last_period_is_followed_not_doubled(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """One poller never launches while its job runs; a second poller taking over after the
    relaunch period must not either: the job stuck at 60 % is followed, and stalls there."""
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-a": {"outcome": "stuck", "at_percent": 60}}})
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    args = ("-H", "vm-a", "-l", "full", "--relaunch-after", str(2 * HOUR))
    run("backup", first, *args)
    for _ in range(12):                                    # three hours on the first poller
        clocked.advance(900)
        run("backup", first, *args)
    taken_over = run("backup", second, *args)
    assert "following 1 backup" in taken_over.first_line, taken_over.output
    assert _hosts_jobs(sim, "vm-a") == {"vm-a": 1}
    for _ in range(8):
        clocked.advance(900)
        last = run("backup", second, *args)
    assert last.code == 2 and "stalled" in last.first_line, last.output
    assert _hosts_jobs(sim, "vm-a") == {"vm-a": 1}


@pytest.mark.parametrize("sets,profile", [
    ({"mixed": [{"hostname": "vm-a", "level": "incremental"},
                {"hostname": "vm-a", "level": "full"}]},
     {"version": 2, "endpoints": {"job_list": {"fields": {"level": None}}}}),
    ({"linux": [{"hostname": "vm-a", "level": "incremental"}],
      "nightly": [{"hostname": "vm-a", "level": "incremental"},
                  {"hostname": "vm-b", "level": "full"}]}, {"version": 2}),
    ({"subclients": [{"hostname": "vm-a", "level": "incremental", "params": {"part": "1"}},
                     {"hostname": "vm-a", "level": "incremental", "params": {"part": "2"}}]},
     {"version": 2}),
], ids=["ok-two-levels-of-one-host-and-a-listing-without-levels",
        "ok-a-host-in-two-sets-alike-is-backed-up-once",
        "ok-one-host-twice-in-a-set-with-other-params"])
def test_one_listed_job_is_followed_for_one_target(sim: Any, tmp_path: Path, clocked: Clocked,
                                                   sets: Dict[str, Any],
                                                   profile: Dict[str, Any]) -> None:
    play(sim, LONG)
    first = poller(tmp_path, sim, "a", sets=sets, **profile)
    second = poller(tmp_path, sim, "b", sets=sets, **profile)
    launched = run("backup", first, "-A")
    clocked.advance(600)
    followed = run("backup", second, "-A")
    assert followed.code == 0, followed.output
    count = sim.counters["backup"]
    assert count == 2, launched.output
    ids = {line.split("(job ")[1].split(")")[0] for line in followed.output.splitlines()[1:]
           if "(job " in line}
    assert len(ids) == count, followed.output
    assert f"following {count} backups ({count} launched by another run)" in \
        followed.first_line


@pytest.mark.parametrize("ahead", ["milliseconds", "one-day"])
def test_crit_listed_start_times_ahead_of_the_clock_launch_nothing(
        sim: Any, tmp_path: Path, clocked: Clocked, monkeypatch: pytest.MonkeyPatch,
        ahead: str) -> None:
    """Start times written in milliseconds (or by a clock a day ahead) would make every listed
    job "of this period" for ever: the check would follow old jobs and never launch again."""
    from libiaso.simulator.iaso import IasoContract

    play(sim, {"job_speed": 1, "job_duration": 600})
    listing = IasoContract.job_list

    def shifted(contract: Any, request: Any) -> Any:
        answer = listing(contract, request._replace(query={   # "since" ignored by the API
            k: v for k, v in request.query.items() if k != "since"}))
        for job in answer.document["jobs"]:
            job["startTime"] = job["startTime"] * 1000 if ahead == "milliseconds" \
                else job["startTime"] + 86400
        return answer

    config = poller(tmp_path, sim, "a")
    args = ("-H", "vm-a", "-l", "full", "--relaunch-after", str(2 * HOUR))
    run("backup", config, *args)
    clocked.advance(900)
    assert "1 of 1 backup completed" in run("backup", config, *args).first_line
    monkeypatch.setattr(IasoContract, "job_list", shifted)
    clocked.advance(3 * HOUR)                              # the next launch is due
    refused = run("backup", config, *args)
    assert refused.code == 2 and "after this host's clock" in refused.first_line, \
        refused.output
    assert ("days after" if ahead == "milliseconds" else "20:45:00 after") in refused.first_line
    assert _hosts_jobs(sim, "vm-a") == {"vm-a": 1}


@pytest.mark.parametrize("probe,args", [
    ("backup", ("-H", "vm-a", "-l", "full")),
    ("restore", ("-H", "vm-a", "--file", "hosts", "--path", "/etc", "--destination", "/tmp/r")),
], ids=["unknown-backup-of-a-host-the-listing-cannot-name",
        "unknown-restore-of-a-host-the-listing-cannot-name"])
def test_a_listing_that_needs_a_target_parameter_refuses_a_command_line_target(
        sim: Any, tmp_path: Path, clocked: Clocked, probe: str, args: Any) -> None:
    play(sim, LONG)
    config = poller(tmp_path, sim, "a", version=2, endpoints={"job_list": {"query": {
        "hostname": "{hostname}", "kind": "{kind}", "since": "{since}",
        "client": "{client_id}"}}})
    data = yaml.safe_load(config.read_text())
    data["environments"]["lab"].pop("backup_sets")
    data["environments"]["lab"].pop("restores")
    config.write_text(yaml.safe_dump(data))
    refused = run(probe, config, *args)
    assert refused.code == 3, refused.output
    assert refused.first_line.startswith(f"IASO {probe.upper()} UNKNOWN - lab: the profile's "
                                         "job listing needs client_id"), refused.output
    assert sim.counters["login"] == 0 and sim.counters[probe] == 0
    waited = run(probe, config, *args, "--wait", "-t", "3")   # --wait asks no listing
    assert "needs client_id" not in waited.output and sim.counters[probe] == 1, waited.output


def test_ok_a_job_of_someone_else_listed_in_the_future_does_not_stop_launches(
        sim: Any, tmp_path: Path, clocked: Clocked, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the jobs that would count as the check's own are held to the clock: another
    account's planned job, or one written by another clock, is none of its business."""
    from libiaso.simulator.iaso import IasoContract

    play(sim, LONG)
    listing = IasoContract.job_list

    def with_a_planned_job(contract: Any, request: Any) -> Any:
        answer = listing(contract, request)
        answer.document["jobs"].append({"jobId": 99, "hostname": request.query["hostname"],
                                        "kind": "backup", "status": "Waiting",
                                        "user": "someone-else", "level": "full",
                                        "startTime": sim.clock() + 86400})
        return answer

    monkeypatch.setattr(IasoContract, "job_list", with_a_planned_job)
    outcome = run("backup", poller(tmp_path, sim, "a"), "-S", "linux")
    assert outcome.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), \
        outcome.output
