"""The ELK material matches what the probes write: every field mapped, every panel on mapped
fields, the dashboard's references resolvable."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, Set

import yaml
from conftest import ROOT, play, write_config
from iaso_probes import (
    check_iaso_auth,
    check_iaso_backup,
    check_iaso_health,
    check_iaso_life,
    check_iaso_response_time,
    check_iaso_restore,
)

ELK = ROOT / "docs" / "elk"


def mapped_fields() -> Dict[str, str]:
    """Every leaf of the template's mapping: dotted path → type."""
    template = json.loads((ELK / "index-template.json").read_text())

    def walk(properties: Dict[str, Any], prefix: str) -> Iterator[tuple]:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                yield from walk(spec["properties"], path + ".")
            else:
                yield path, spec["type"]
                for sub, sub_spec in spec.get("fields", {}).items():
                    yield f"{path}.{sub}", sub_spec["type"]

    return dict(walk(template["template"]["mappings"]["properties"], ""))


def leaf_paths(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from leaf_paths(item, prefix)
    else:
        yield prefix.rstrip(".")


def test_ok_mapping_covers_every_field_the_probes_write(sim: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim.url, extra={
        "jobs": {"state_dir": str(tmp_path / "state"), "poll_interval": 0.2},
        "restores": {"r": {"hostname": "vm-a", "file_name": "f", "source_path": "/",
                           "destination": "/tmp"}}})
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"results": str(tmp_path / "results.jsonl")}
    config.write_text(yaml.safe_dump(data))
    play(sim, {"job_speed": 60, "job_duration": 30, "components": {"vcenter": "unhealthy"},
               "hosts": {"vm-b": {"outcome": "failed", "at_percent": 50}}})
    args = ["-C", str(config)]
    check_iaso_life.probe.run([*args, "-w", "1", "-c", "2"])
    check_iaso_health.probe.run(args)
    check_iaso_response_time.probe.run([*args, "-n", "2"])
    check_iaso_auth.probe.run(args)
    check_iaso_backup.probe.run([*args, "-H", "vm-b", "--wait"])
    check_iaso_restore.probe.run([*args, "-R", "r", "--wait"])
    play(sim, {"endpoints": {"life": {"hang": True}}})
    check_iaso_life.probe.run([*args, "-t", "1"])
    written: Set[str] = set()
    for line in (tmp_path / "results.jsonl").read_text().splitlines():
        written.update(leaf_paths(json.loads(line)))
    assert len(written) > 40
    assert written - set(mapped_fields()) == set()
    assert {"error.type", "iaso.jobs.status", "iaso.components.name",
            "iaso.unhealthy_components"} <= written


def saved_objects() -> list:
    return [json.loads(line) for line in
            (ELK / "kibana-dashboard.ndjson").read_text().splitlines() if line.strip()]


def test_ok_dashboard_is_ndjson_on_mapped_fields() -> None:
    objects = saved_objects()
    fields = mapped_fields()
    ids = {(o["type"], o["id"]) for o in objects}
    visualisations = [o for o in objects if o["type"] == "visualization"]
    assert len(visualisations) >= 4
    for vis in visualisations:
        state = json.loads(vis["attributes"]["visState"])
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            if field is not None:
                assert field in fields, (vis["id"], field)
                if agg["type"] == "terms":
                    assert fields[field] in ("keyword", "boolean"), (vis["id"], field)
                if agg["type"] in ("percentiles", "max", "avg"):
                    assert fields[field] in ("float", "double", "long"), (vis["id"], field)
        source = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        for word in source["query"]["query"].replace("(", " ").split():
            if "." in word and ":" not in word:
                assert word in fields, (vis["id"], word)
        for reference in vis["references"]:
            assert (reference["type"], reference["id"]) in ids
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    names = {r["name"]: r for r in dashboard["references"]}
    assert len(panels) == len(visualisations)
    for panel in panels:
        reference = names[panel["panelRefName"]]
        assert (reference["type"], reference["id"]) in ids
    titles = " ".join(v["attributes"]["title"] for v in visualisations)
    for topic in ("state over time", "response time percentiles", "failures by component",
                  "durations", "outcomes"):
        assert topic in titles


def test_ok_filebeat_and_logstash_read_the_configured_log() -> None:
    filebeat = yaml.safe_load((ELK / "filebeat.yml").read_text())
    (stream,) = filebeat["filebeat.inputs"]
    assert stream["type"] == "filestream" and stream["parsers"][0]["ndjson"]["target"] == ""
    assert "iaso-probes-" in filebeat["output.elasticsearch"]["index"]
    assert "codec => json_lines" in (ELK / "logstash.conf").read_text()
