"""The results log and the application log: content, concurrency, rotation, no secrets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from conftest import PASSWORD, ROOT, play, run_program, write_config

from iaso_probes import check_iaso_backup, check_iaso_health, check_iaso_life


def logged_config(tmp_path: Path, sim: Any, **extra: Any) -> Path:
    path = write_config(tmp_path, sim.url, extra=extra)
    data = yaml.safe_load(path.read_text())
    data["logging"] = {"results": str(tmp_path / "results.jsonl"),
                       "application": str(tmp_path / "app.log"), "level": "info"}
    path.write_text(yaml.safe_dump(data))
    return path


def records(tmp_path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]


def test_ok_one_record_per_run_with_ecs_fields(sim: Any, tmp_path: Path) -> None:
    config = logged_config(tmp_path, sim)
    outcome = check_iaso_life.probe.run(["-C", str(config), "-w", "2", "-c", "5"])
    (record,) = records(tmp_path)
    assert record["@timestamp"].endswith("Z") and record["event"]["outcome"] == "success"
    assert record["event"]["dataset"] == "iaso.probe" and record["event"]["duration"] > 0
    assert record["service"] == {"name": "IASO", "type": "iaso", "environment": "lab"}
    assert record["host"]["hostname"]
    iaso = record["iaso"]
    assert iaso["probe"] == "check_iaso_life" and iaso["state"] == {"name": "OK", "code": 0}
    assert outcome.first_line.startswith("IASO LIFE OK - " + iaso["summary"])
    (time_metric,) = [m for m in iaso["metrics"] if m["name"] == "time"]
    assert time_metric["unit"] == "s" and time_metric["warning"] == "2" \
        and time_metric["critical"] == "5" and time_metric["max"] == 10
    assert iaso["response_time_s"] == time_metric["value"]
    assert "error" not in record


def test_crit_failure_record_names_the_error(sim: Any, tmp_path: Path) -> None:
    play(sim, {"components": {"vcenter": "unhealthy"}, "endpoints": {"life": {"status": 503}}})
    config = logged_config(tmp_path, sim)
    check_iaso_life.probe.run(["-C", str(config)])
    check_iaso_health.probe.run(["-C", str(config)])
    life, health = records(tmp_path)
    assert life["event"]["outcome"] == "failure" and life["iaso"]["state"]["code"] == 2
    assert life["error"]["type"] == "ApiStatusError"
    assert "answered HTTP 503" in life["error"]["message"]
    assert health["iaso"]["unhealthy_components"] == ["vcenter"]
    assert {"name": "vcenter", "status": "unhealthy", "healthy": False,
            "state": "CRITICAL"} in health["iaso"]["components"]


def test_ok_backup_record_carries_jobs(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 60, "job_duration": 60})
    config = logged_config(tmp_path, sim, jobs={"state_dir": str(tmp_path / "state"),
                                                "poll_interval": 0.2})
    check_iaso_backup.probe.run(["-C", str(config), "-H", "vm-a", "--wait"])
    (record,) = records(tmp_path)
    (job,) = record["iaso"]["jobs"]
    assert job["host"] == "vm-a" and job["status"] == "Completed" and job["state"] == "OK"
    assert job["job_id"].isdigit() and job["duration_s"] == 60 and job["ended"] is True
    assert record["iaso"]["targets"] == ["vm-a"]


def test_ok_logging_problems_never_change_the_state(sim: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim.url)
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"results": str(tmp_path / "missing" / "results.jsonl"),
                       "application": str(tmp_path / "missing" / "app.log")}
    config.write_text(yaml.safe_dump(data))
    outcome = check_iaso_life.probe.run(["-C", str(config)])
    assert outcome.code == 0
    assert f"application log {tmp_path}/missing/app.log cannot be opened" in outcome.output
    assert f"results log {tmp_path}/missing/results.jsonl cannot be opened" in outcome.output


def test_ok_full_disk_is_a_note_not_a_state_nor_stderr(sim: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim.url)
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"results": "/dev/full", "application": "/dev/full", "level": "info"}
    config.write_text(yaml.safe_dump(data))
    done = run_program("iaso_probes.check_iaso_life", "-C", str(config))
    assert done.code == 0 and done.stderr == "", done
    assert "results log /dev/full cannot be written: No space left on device" in done.stdout
    assert "application log /dev/full cannot be written (disk full?)" in done.stdout


def test_ok_application_log_tells_what_was_done_and_no_secret(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 60, "job_duration": 60, "token_lifetime": 0.5})
    config = logged_config(tmp_path, sim, jobs={"state_dir": str(tmp_path / "state"),
                                                "poll_interval": 0.3})
    check_iaso_backup.probe.run(["-C", str(config), "-H", "vm-a"])
    time.sleep(0.3)
    check_iaso_backup.probe.run(["-C", str(config), "-H", "vm-a", "-v"])
    check_iaso_backup.probe.run(["-C", str(config), "-H", "vm-b", "--wait"])
    text = (tmp_path / "app.log").read_text()
    assert "launching 1 backup(s)" in text and "polling 1 job(s) in progress" in text
    assert "POST http://127.0.0.1:" in text and "/backups -> 202" in text
    assert "answered 401: logging in again once" in text
    assert "finished: check_iaso_backup lab: IASO BACKUP OK" in text
    tokens = list(sim.tokens)
    assert tokens and not any(token in text for token in tokens)
    assert PASSWORD not in text and "Bearer" not in text


def run_life(config: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # -t 120: 200 interpreters starting at once on two cores take far longer than the default 10
    return subprocess.Popen([sys.executable, "-m", "iaso_probes.check_iaso_life", "-C", str(config),
                             "-t", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_ok_200_parallel_probes_write_200_intact_lines(sim: Any, tmp_path: Path) -> None:
    config = logged_config(tmp_path, sim)
    running = [run_life(config) for _ in range(200)]
    outputs = [process.communicate(timeout=120) for process in running]
    assert all(process.returncode == 0 for process in running), outputs[:3]
    assert all(err == "" for _, err in outputs)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["iaso"]["probe"] == "check_iaso_life" for line in lines)


@pytest.mark.parametrize("mode", ["create", "copytruncate"])
def test_ok_rotation_under_concurrent_writers_loses_no_line(sim: Any, tmp_path: Path,
                                                           mode: str) -> None:
    config = logged_config(tmp_path, sim)
    log = tmp_path / "results.jsonl"
    running = [run_life(config) for _ in range(40)]
    deadline = time.monotonic() + 60
    while (not log.exists() or log.read_text().count("\n") < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    rotated = tmp_path / "results.jsonl.1"
    if mode == "create":      # logrotate: rename, then a new empty file
        os.rename(log, rotated)
        log.touch()
    else:                     # logrotate copytruncate: copy, then truncate in place
        with open(log, "rb") as source, open(rotated, "wb") as copy:
            copy.write(source.read())
        os.truncate(log, 0)
    running += [run_life(config) for _ in range(40)]
    for process in running:
        process.communicate(timeout=120)
    lines = rotated.read_text().splitlines() + log.read_text().splitlines()
    intact = [json.loads(line) for line in lines if line]
    if mode == "create":
        assert len(intact) == 80
    else:   # copytruncate's known window: a line written between copy and truncate is lost
        assert 80 - 2 <= len(intact) <= 80
