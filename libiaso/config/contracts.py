"""The built-in API contracts a profile starts from (``base:``), as version-2 profile documents.

``iaso`` is our documented contract (docs/api-contract.md, docs/openapi.yaml). ``commvault``
speaks Commvault's own REST API (docs/contracts/commvault.md), for sites where the probes talk
to the CommServe's web server directly. ``V1_DEFAULT`` is the iaso contract in the first profile
form, under which version-1 profile sections are laid.
"""
from __future__ import annotations

from typing import Any, Dict

IASO: Dict[str, Any] = {
    "version": 2,
    "base": "iaso",
    "auth": {"header": "Authorization", "prefix": "Bearer ", "password_encoding": "plain"},
    "endpoints": {
        "life": {
            "method": "GET", "path": "/life", "auth": False,
            "fields": {"status_code": {"path": "statusCode", "type": "int"}},
            "success": {"field": "status_code", "in": [200]},
        },
        "health": {
            "method": "GET", "path": "/health", "auth": False,
            "fields": {"overall": "status", "components": "components",
                       "component_name": "name", "component_status": "status",
                       "component_message": "message"},
            "states": {"healthy": "ok"},
        },
        "login": {
            "method": "POST", "path": "/login", "auth": False,
            "body": {"username": "{username}", "password": "{password}"},
            "fields": {"token": "token", "expires_in": "expiresIn", "reason": "message"},
        },
        "backup": {
            "method": "POST", "path": "/backups", "auth": True,
            "body": {"hostname": "{hostname}", "backupLevel": "{level}"},
            "fields": {"started": "started", "job_id": "jobId", "reason": "message"},
        },
        "job_status": {
            "method": "POST", "path": "/jobs/status", "auth": True,
            "body": {"jobId": "{job_id}", "hostname": "{hostname}"},
            "fields": {"job_id": "jobId", "hostname": "hostname", "status": "status",
                       "percent": "percentComplete", "elapsed": "elapsedSeconds",
                       "phase": "phase", "pending_reason": "pendingReason",
                       "failure_reason": "failureReason"},
            "not_visible": {"status": [404]},
        },
        "restore": {
            "method": "POST", "path": "/restores", "auth": True,
            "body": {"hostname": "{hostname}", "fileName": "{file_name}",
                     "path": "{source_path}", "destination": "{destination}"},
            "fields": {"started": "started", "job_id": "jobId", "reason": "message"},
        },
        # A host's recent jobs: what lets a check on any poller find the job another launched.
        "job_list": {
            "method": "GET", "path": "/jobs", "auth": True,
            "query": {"hostname": "{hostname}", "kind": "{kind}", "since": "{since}"},
            "fields": {"items": "jobs", "job_id": "jobId", "hostname": "hostname",
                       "kind": "kind", "status": "status", "user": "user", "level": "level",
                       "file_name": "fileName", "source_path": "path",
                       "destination": "destination",
                       "started_at": {"path": "startTime", "type": "time", "from": "epoch"}},
        },
        "vm_list": {
            "method": "GET", "path": "/vms", "auth": True,
            "query": {"since": "{since}"},
            "fields": {"items": "vms", "total": "total", "name": "name", "id": "id",
                       "group": "group", "plan": "plan", "company": "company",
                       "last_backup": {"path": "lastBackup.time", "type": "time",
                                       "from": "epoch"},
                       "last_success": {"path": "lastBackup.lastSuccessTime", "type": "time",
                                        "from": "epoch"},
                       "last_status": "lastBackup.status",
                       "failure_reason": "lastBackup.failureReason",
                       "protection": "protection"},
            "paging": {"style": "offset", "in": "query", "limit": "limit",
                       "offset": "offset", "size": 1000},
        },
    },
}

def _first_form(spec: Dict[str, Any]) -> Dict[str, Any]:
    """An endpoint of the iaso contract as the first profile form writes it: fields as paths
    (a time field read as epoch seconds, the first form's only way)."""
    kept = {key: value for key, value in spec.items()
            if key in ("method", "path", "auth", "body", "fields", "query", "paging")}
    kept["fields"] = {name: field if isinstance(field, str) else field["path"]
                      for name, field in spec.get("fields", {}).items()}
    return kept


# The first form keeps what it always had, and the fleet listing; not the job listing, which an
# API of the first days may lack. A site that writes a job_list in it writes over this one.
V1_JOB_LIST = _first_form(IASO["endpoints"]["job_list"])
V1_DEFAULT: Dict[str, Any] = {
    "auth": dict(IASO["auth"]),
    "healthy_values": ["healthy"],
    "endpoints": {role: _first_form(spec) for role, spec in IASO["endpoints"].items()
                  if role != "job_list"},
}
V1_DEFAULT["endpoints"]["life"]["success"] = {"field": "status_code", "in": [200]}
V1_DEFAULT["endpoints"]["job_status"]["not_visible"] = {"status": [404]}

_JOB = "jobs.0.jobSummary."

COMMVAULT: Dict[str, Any] = {
    "version": 2,
    "base": "commvault",
    "auth": {"header": "Authtoken", "prefix": "", "password_encoding": "base64"},
    "endpoints": {
        # The web service's root answers 200 when it is up; its body is not documented.
        "life": {
            "method": "GET", "path": "/", "auth": False, "answer": "none",
            "success": {"status": [200]},
        },
        # No health endpoint exists: the MediaAgents (the gateways to storage) are the
        # components, ONLINE, MAINTENANCE or OFFLINE.
        "health": {
            "method": "GET", "path": "/V4/mediaAgent", "auth": True,
            "fields": {"components": "mediaAgents", "component_name": "name",
                       "component_status": "status", "component_message": "offlineReason"},
            "states": {"ONLINE": "ok", "MAINTENANCE": "warning", "OFFLINE": "critical"},
        },
        # A refused login answers HTTP 200 with errList and no token; the token carries its
        # own "QSDK " prefix and lives 30 minutes of inactivity (the answer does not say).
        "login": {
            "method": "POST", "path": "/Login", "auth": False,
            "body": {"username": "{username}", "password": "{password}"},
            "fields": {"token": "token", "reason": "errList.0.errLogMessage"},
        },
        # A refusal answers HTTP 200 with errorCode and errorMessage; jobIds are texts.
        "backup": {
            "method": "POST", "path": "/Subclient/{subclient_id}/action/backup", "auth": True,
            "query": {"backupLevel": "{level}"},
            "fields": {"job_id": "jobIds.0", "reason": "errorMessage"},
        },
        # An unknown (or not yet visible) job answers 200 with no record.
        "job_status": {
            "method": "GET", "path": "/Job/{job_id}", "auth": True,
            "fields": {"records": "totalRecordsWithoutPaging", "job_id": _JOB + "jobId",
                       "status": _JOB + "status", "percent": _JOB + "percentComplete",
                       "elapsed": _JOB + "jobElapsedTime", "phase": _JOB + "currentPhaseName",
                       "pending_reason": _JOB + "pendingReason"},
            "not_visible": {"field": "records", "in": [0]},
            "states": {"Committed": "warning", "Kill Pending": "running",
                       "Interrupt Pending": "running", "Suspend Pending": "running",
                       "Suspend": "waiting", "Running (cannot be verified)": "running",
                       "System Kill Pending": "running"},
        },
        # An out-of-place restore of one file, as a CreateTask restore task.
        "restore": {
            "method": "POST", "path": "/CreateTask", "auth": True,
            "body": {"taskInfo": {
                "associations": [{"clientName": "{client_name}", "subclientId": "{subclient_id}",
                                  "backupsetName": "{backupset_name}",
                                  "appName": "File System", "_type_": 7}],
                "task": {"initiatedFrom": 2, "taskType": 1, "policyType": 0,
                         "taskFlags": {"disabled": False}},
                "subTasks": [{
                    "subTask": {"subTaskType": 3, "operationType": 1001},
                    "options": {"restoreOptions": {
                        "browseOption": {"backupset": {"clientName": "{client_name}",
                                                       "appName": "File System"},
                                         "timeRange": {}},
                        "commonOptions": {"unconditionalOverwrite": True,
                                          "preserveLevel": 1},
                        "destination": {"inPlace": False,
                                        "destClient": {"clientName": "{destination_client}"},
                                        "destPath": ["{destination}"]},
                        "fileOption": {"sourceItem": ["{source_path}/{file_name}"]},
                    }},
                }],
            }},
            "fields": {"job_id": "jobIds.0", "reason": "errorMessage"},
        },
        # A client's jobs of one type finished within the window (seconds) or still active.
        "job_list": {
            "method": "GET", "path": "/Job", "auth": True,
            "query": {"clientId": "{client_id}", "jobFilter": "{job_type}",
                      "completedJobLookupTime": "{window}"},
            "fields": {"items": "jobs", "job_id": "jobSummary.jobId",
                       "status": "jobSummary.status", "user": "jobSummary.userName.userName",
                       "level": "jobSummary.backupLevelName",
                       "started_at": {"path": "jobSummary.jobStartTime", "type": "time",
                                      "from": "epoch"}},
        },
        # Every VM with its last backup; the published API declares no paging for it.
        "vm_list": {
            "method": "GET", "path": "/V4/VirtualMachines", "auth": True,
            "fields": {"items": "virtualMachines", "total": "virtualMachinesCount",
                       "name": "name", "id": "UUID", "group": "vmGroup.name",
                       "plan": "plan.name", "company": "company.name",
                       "last_backup": {"path": "lastBackup.time", "type": "time",
                                       "from": "epoch"},
                       "last_success": {"path": "lastBackup.lastSuccessfulBackupTime",
                                        "type": "time", "from": "epoch"},
                       "last_status": "lastBackup.status",
                       "failure_reason": "lastBackup.failureReason",
                       "sla": "SLA.status", "protection": "status"},
            "paging": {"style": "none"},
        },
    },
}

CONTRACTS: Dict[str, Dict[str, Any]] = {"iaso": IASO, "commvault": COMMVAULT}
