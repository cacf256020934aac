"""The simulator, the default API profile and docs/openapi.yaml tell the same contract.

The VM listing (``GET /vms``) included: every page the simulator serves, healthy or with an
inventory fault, follows the VmList schema, and every field path of the iaso profile's
``vm_list`` exists in it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest
import requests
import yaml
from conftest import PASSWORD, ROOT, USERNAME, play, write_config

from libiaso.api.answers import lookup
from libiaso.api.client import IasoClient
from libiaso.config.contracts import IASO
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline

SPEC: Dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def resolved(node: Any) -> Any:
    """The schema with every local $ref replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolved(target)
        return {k: resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v) for v in node]
    return node


def response_schema(path: str, method: str, status: int) -> Dict[str, Any]:
    responses = SPEC["paths"][path][method.lower()]["responses"]
    entry = resolved(responses.get(str(status)) or responses["default"])
    return entry["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def request_schema(path: str, method: str) -> Dict[str, Any]:
    body = resolved(SPEC["paths"][path][method.lower()]["requestBody"])
    return body["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


ENDPOINTS: Dict[str, Any] = IASO["endpoints"]


def path_of(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec["path"]


def test_ok_default_profile_names_the_documented_paths() -> None:
    for role, endpoint in ENDPOINTS.items():
        assert endpoint["path"] in SPEC["paths"], role
        assert endpoint["method"].lower() in SPEC["paths"][endpoint["path"]], role


def test_ok_default_request_bodies_match_the_documented_schemas() -> None:
    for role, endpoint in ENDPOINTS.items():
        if "body" in endpoint:
            schema = request_schema(endpoint["path"], endpoint["method"])
            assert set(endpoint["body"]) == set(schema["properties"]), role
            assert set(schema["required"]) <= set(endpoint["body"]), role


@pytest.fixture
def client(sim: Any, tmp_path: Path) -> IasoClient:
    config = write_config(tmp_path, sim.url)
    return IasoClient(load_config(str(config)).environment(None), Deadline(20))


def test_ok_simulator_answers_follow_the_schemas(sim: Any, client: IasoClient) -> None:
    play(sim, {"job_speed": 1000, "components": {"vcenter": "unhealthy"}})
    calls = [("life", {}), ("health", {}),
             ("backup", {"hostname": "vm-a", "level": "full"}),
             ("restore", {"hostname": "vm-a", "file_name": "hosts", "source_path": "/etc",
                          "destination": "/tmp/restored"})]
    jobs = []
    for role, params in calls:
        answer = client.call(role, params)
        endpoint = ENDPOINTS[role]
        jsonschema.validate(answer.document,
                            response_schema(endpoint["path"], endpoint["method"], answer.status))
        for name, spec in endpoint["fields"].items():
            if name.startswith("component_"):
                continue
            if name in ("job_id", "started", "status_code", "overall", "components"):
                assert lookup(answer.document, path_of(spec)) is not None, (role, name)
        if role in ("backup", "restore"):
            jobs.append(answer.field("job_id", "id"))
    time.sleep(0.2)
    for job_id in jobs:
        answer = client.call("job_status", {"job_id": job_id, "hostname": "vm-a"})
        jsonschema.validate(answer.document, response_schema("/jobs/status", "POST", 200))
        assert answer.field("status", "str") == "Completed"


def test_ok_simulator_errors_follow_the_error_schema(sim: Any, client: IasoClient) -> None:
    import requests

    bad_login = requests.post(sim.url + "/login", json={"username": USERNAME, "password": "no"},
                              timeout=5)
    assert bad_login.status_code == 401 and bad_login.json()["message"] == "KO"
    jsonschema.validate(bad_login.json(), response_schema("/login", "POST", 401))
    good = requests.post(sim.url + "/login", json={"username": USERNAME, "password": PASSWORD},
                         timeout=5)
    jsonschema.validate(good.json(), response_schema("/login", "POST", 200))
    unknown = requests.post(sim.url + "/jobs/status", json={"jobId": 1, "hostname": "x"},
                            headers={"Authorization": "Bearer " + good.json()["token"]},
                            timeout=5)
    assert unknown.status_code == 404
    jsonschema.validate(unknown.json(), response_schema("/jobs/status", "POST", 404))


def walk(schema: Dict[str, Any], dotted: str) -> Dict[str, Any]:
    """The schema of the value at ``dotted``, or an AssertionError naming the missing step."""
    current = schema
    for part in dotted.split("."):
        if part.isdigit():
            assert current.get("type") == "array", f"{dotted}: {part} indexes a non-list"
            current = current["items"]
        else:
            assert part in current.get("properties", {}), f"{dotted}: no property {part!r}"
            current = current["properties"][part]
    return current


def test_ok_vm_list_fields_and_parameters_are_documented() -> None:
    endpoint = ENDPOINTS["vm_list"]
    schema = response_schema(endpoint["path"], endpoint["method"], 200)
    items = walk(schema, path_of(endpoint["fields"]["items"]))["items"]
    for name, spec in endpoint["fields"].items():
        container = schema if name in ("items", "total") else items
        where = walk(container, path_of(spec))
        if isinstance(spec, dict) and spec.get("type") == "time":
            assert "integer" in where["type"], name   # epoch seconds
    documented = {p["name"] for p in SPEC["paths"]["/vms"]["get"]["parameters"]}
    paging = endpoint["paging"]
    assert set(endpoint["query"]) | {paging["limit"], paging["offset"]} <= documented


def vm_pages(sim: Any, limit: int, since: Any = None) -> List[Dict[str, Any]]:
    """Every page of ``GET /vms`` from offset 0 until a page comes back short."""
    token = requests.post(sim.url + "/login", json={"username": USERNAME, "password": PASSWORD},
                          timeout=5).json()["token"]
    pages, offset = [], 0
    while True:
        query = {"limit": limit, "offset": offset, **({} if since is None else {"since": since})}
        answer = requests.get(sim.url + "/vms", params=query, timeout=5,
                              headers={"Authorization": "Bearer " + token})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        if len(answer.json()["vms"]) < limit:
            return pages
        offset += limit


@pytest.mark.parametrize("faults", [{}, {"duplicates": 2, "future": 2}, {"overlap": 3},
                                    {"repeat_pages": [2]}, {"total_drift": 4}],
                         ids=["ok-healthy", "ok-duplicates-and-future", "ok-overlap",
                              "ok-repeated-page", "ok-total-drift"])
def test_vm_pages_follow_the_schema(sim: Any, faults: Dict[str, Any]) -> None:
    play(sim, {"inventory": {"size": 45, "failed": 0.1, "stale": 0.1, "never": 0.1,
                             "excluded": 0.1, "faults": faults}})
    schema = response_schema("/vms", "GET", 200)
    pages = vm_pages(sim, 10)
    for page in pages:
        jsonschema.validate(page, schema)
    seen = [vm["name"] for page in pages for vm in page["vms"]]
    assert set(seen) == {f"vm-{n:06d}" for n in range(45)} or "repeat_pages" in faults
    assert len(pages) >= 5


def test_crit_vm_listing_cut_mid_page(sim: Any) -> None:
    play(sim, {"inventory": {"size": 45, "faults": {"cut_at": 23}}})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        vm_pages(sim, 10)


def test_crit_refused_launch_follows_the_error_schema(sim: Any, client: IasoClient) -> None:
    play(sim, {"hosts": {"vm-r": {"outcome": "refused", "reason": "Client not licensed"}}})
    token = requests.post(sim.url + "/login", json={"username": USERNAME, "password": PASSWORD},
                          timeout=5).json()["token"]
    refused = requests.post(sim.url + "/backups", json={"hostname": "vm-r", "backupLevel": "full"},
                            headers={"Authorization": "Bearer " + token}, timeout=5)
    assert refused.status_code == 400 and refused.json()["message"] == "Client not licensed"
    jsonschema.validate(refused.json(), response_schema("/backups", "POST", 400))
