"""The ELK material holds together: every panel on mapped fields of the right type, the
dashboard's references resolvable, the shippers reading the configured log. That the template maps
every field the probes write, as ECS maps it, is tests/test_ecs.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator

import yaml
from conftest import ROOT, play, write_config

from iaso_probes import check_iaso_backup

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
                if agg["type"] == "cardinality":
                    assert fields[field] == "keyword", (vis["id"], field)
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


def test_ok_job_outcomes_count_each_ended_job_once(sim: Any, tmp_path: Path) -> None:
    """A backup check repeats its last ended job in every record until the next launch (a day
    by default): a panel of ended jobs counts distinct job IDs, not records."""
    config = write_config(tmp_path, sim.url, extra={"jobs": {"state_dir": str(tmp_path / "s")}})
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"results": str(tmp_path / "results.jsonl")}
    config.write_text(yaml.safe_dump(data))
    play(sim, {"job_speed": 100000, "job_duration": 1})
    for _ in range(3):
        check_iaso_backup.probe.run(["-C", str(config), "-H", "vm-a"])
    jobs = [job for line in (tmp_path / "results.jsonl").read_text().splitlines()
            for job in json.loads(line)["iaso"]["jobs"] if job["ended"]]
    assert len(jobs) == 2 and len({job["job_id"] for job in jobs}) == 1
    panels = [o for o in saved_objects() if o["type"] == "visualization"
              and "iaso.jobs.ended" in o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]]
    assert panels
    for panel in panels:
        aggs = json.loads(panel["attributes"]["visState"])["aggs"]
        metrics = [agg for agg in aggs if agg["schema"] == "metric"]
        assert all(agg["type"] != "count" for agg in metrics), panel["id"]
        if panel["id"] == "iaso-job-outcomes":
            assert [(m["type"], m["params"]["field"]) for m in metrics] == [
                ("cardinality", "iaso.jobs.job_id")]
