"""The simulator, the default API profile and docs/openapi.yaml tell the same contract."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest
import yaml
from conftest import PASSWORD, ROOT, USERNAME, play, write_config

from libiaso.api.answers import lookup
from libiaso.api.client import IasoClient
from libiaso.config.profile import DEFAULT_PROFILE
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


def test_ok_default_profile_names_the_documented_paths() -> None:
    for role, endpoint in DEFAULT_PROFILE["endpoints"].items():
        assert endpoint["path"] in SPEC["paths"], role
        assert endpoint["method"].lower() in SPEC["paths"][endpoint["path"]], role


def test_ok_default_request_bodies_match_the_documented_schemas() -> None:
    for role, endpoint in DEFAULT_PROFILE["endpoints"].items():
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
        endpoint = DEFAULT_PROFILE["endpoints"][role]
        jsonschema.validate(answer.document,
                            response_schema(endpoint["path"], endpoint["method"], answer.status))
        for name, dotted in endpoint["fields"].items():
            if name.startswith("component_"):
                continue
            if name in ("job_id", "started", "status_code", "overall", "components"):
                assert lookup(answer.document, dotted) is not None, (role, name)
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
