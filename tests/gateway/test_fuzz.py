"""Property-based fuzzing of the whole OpenAPI schema (schemathesis) against a real server:
no 5xx, and every answer matches the schema, in the key's own workspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from repertory.gateway._rest import OPERATIONS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from schemathesis import Case

    from repertory.gateway._operation import Operation

COMMAND = str(Path(sys.executable).with_name("repertory"))
FLOWS = str(Path(__file__).with_name("served_flows.py"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server on a free port of 127.0.0.1: its URL and its owner key."""
    database = tmp_path_factory.mktemp("fuzz") / "runs.db"
    process = subprocess.Popen(
        [
            COMMAND,
            "server",
            "start",
            "--port",
            "0",
            "--database-url",
            f"sqlite:///{database}",
            "--flows",
            FLOWS,
            # It sends bursts and, checking that auth is not ignored, calls without a key.
            "--rate-limit",
            "0",
            "--auth-failure-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    key = url = ""
    for line in process.stdout:  # ends at EOF if the server fails to start
        if "owner API key" in line:
            key = line.split()[-1]
        if line.startswith("repertory serving "):
            url = line.split()[2]
            break
    try:
        assert url, "the server did not start"
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
def test_every_operation_answers_within_its_schema(
    server: tuple[str, str], operation: Operation
) -> None:
    url, key = server
    schema = schemathesis.openapi.from_url(
        f"{url}/api/openapi.json", headers={"Authorization": f"Bearer {key}"}
    )
    label = f"{operation.method} {operation.path}"
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself is valid
        operations.append(result.ok())
    [found] = [candidate for candidate in operations if candidate.label == label]
    # A body that fits the schema may still name bad parameters of the flow, which the schema
    # does not describe: a 422 there is right, not a rejected valid request.
    excluded: list[Any] = [positive_data_acceptance] if operation.body is not None else []

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=found.as_strategy())
    def fuzz(case: Case[Any]) -> None:
        if case.path_parameters and "workspace" in case.path_parameters:
            if operation.name in {"delete_workspace", "rename_workspace"}:  # not the fuzz's own
                case.path_parameters["workspace"] += "-fuzzed"
            else:
                case.path_parameters["workspace"] = "default"  # the key's own: past the 404s
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, excluded_checks=excluded)

    fuzz()


@pytest.fixture(scope="module")
def other_key(server: tuple[str, str]) -> tuple[str, str]:
    """A key of a second workspace, and the id of a run the first one made."""
    url, key = server
    admin = {"Authorization": f"Bearer {key}"}
    made = httpx.post(f"{url}/api/workspaces", json={"name": "fuzz-other"}, headers=admin)
    assert made.status_code == 201, made.text
    run = httpx.post(
        f"{url}/api/workspaces/default/flow_runs",
        json={"flow_name": "add", "parameters": {"x": 1}},
        headers=admin,
    )
    assert run.status_code == 201, run.text
    return made.json()["owner_key"]["secret"], run.json()["id"]


SCOPED = [op for op in OPERATIONS if op.scope is not None]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("operation", SCOPED, ids=[op.name for op in SCOPED])
def test_another_workspaces_key_finds_nothing(
    server: tuple[str, str], other_key: tuple[str, str], operation: Operation
) -> None:
    """Fuzzed calls into the first workspace, its run's id among them, with the second's key:
    every answer is a 404 (a 403 for the server's own operations), within the schema."""
    url, key = server
    theirs, run_id = other_key
    schema = schemathesis.openapi.from_url(
        f"{url}/api/openapi.json", headers={"Authorization": f"Bearer {key}"}
    )
    label = f"{operation.method} {operation.path}"
    [found] = [
        result.ok()
        for result in schema.get_all_operations()
        if isinstance(result, Ok) and result.ok().label == label
    ]
    expected = 403 if operation.is_server_level else 404

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=found.as_strategy())
    def fuzz(case: Case[Any]) -> None:
        if case.path_parameters and "workspace" in case.path_parameters:
            case.path_parameters["workspace"] = "default"  # the first workspace, not its own
        if case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = run_id  # made with the first workspace's key
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {theirs}"},
            excluded_checks=[positive_data_acceptance],  # valid, yet not theirs: refused
        )
        assert response.status_code == expected, (label, response.text)
        assert run_id not in response.text or run_id in str(case.path_parameters)

    fuzz()
