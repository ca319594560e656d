"""The OpenAPI 3.1 schema of the REST API, built from `OPERATIONS` and their pydantic models."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from pydantic.json_schema import models_json_schema

from ._models import ErrorOut
from ._rest import SERVER_VERSION

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._operation import Operation

_REF: Final = "#/components/schemas/{model}"
_PATH_PARAMETER: Final = re.compile(r"{(\w+)}")
_PATH_SCHEMAS: Final[dict[str, dict[str, object]]] = {
    "workspace": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "pattern": r"^[A-Za-z0-9_.:-]+$",
    },
    "id": {"type": "string", "minLength": 1, "maxLength": 100},
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
}
_ERRORS: Final = {
    "400": "The request is malformed",
    "401": "No API key, or one that does not work",
    "403": "The key's role lacks the scope this operation needs",
    "404": "No such object in this workspace",
    "413": "The body is too large",
    "422": "The body, the query or the path does not validate (a string holding a NUL "
    "character or a lone surrogate, say)",
    "429": "Too many requests from this key, or failed authentications from this address "
    "(Retry-After says when to try again)",
    "500": "The server failed",
    "503": "The runtime is not running, or its database does not answer",
}


def build_openapi(
    operations: tuple[Operation, ...], *, flow_names: list[str] | None = None
) -> dict[str, object]:
    """The whole schema, as a JSON-able dict; `flow_names`, if given, are the only flows a
    run can be created of, and the schema says so."""
    models: set[type[BaseModel]] = {ErrorOut}
    for operation in operations:
        answers = operation.answers
        models.add(answers[0] if isinstance(answers, tuple) else answers)
        if operation.body is not None:
            models.add(operation.body)
        if operation.query is not None:
            models.add(operation.query)  # for the schemas its fields refer to (StateType)
    keyed = sorted(models, key=lambda model: model.__name__)
    _, definitions = models_json_schema(
        [(model, "validation") for model in keyed], ref_template=_REF
    )
    schemas = definitions.get("$defs", {})
    if flow_names is not None and "CreateFlowRun" in schemas:
        schemas["CreateFlowRun"]["properties"]["flow_name"]["enum"] = flow_names
    paths: dict[str, dict[str, object]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "repertory",
            "version": SERVER_VERSION,
            "description": "Flows, flow runs, their task runs, states and logs, per workspace.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, object]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(operation: Operation) -> dict[str, object]:
    answers = operation.answers
    if isinstance(answers, tuple):
        schema: dict[str, object] = {"type": "array", "items": _ref(answers[0])}
    else:
        schema = _ref(answers)
    responses: dict[str, object] = {
        str(operation.status): {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
    }
    errors = dict(_ERRORS)
    if operation.scope is None:
        for status in ("401", "403", "404", "413", "422", "429"):
            errors.pop(status)
    if operation.body is None:
        errors.pop("413", None)
    if operation.body is None and operation.query is None:
        errors.pop("400")
        if "{" not in operation.path:  # a path's names are checked too
            errors.pop("422", None)
    if "cancel" in operation.name:
        errors["409"] = "The run has already ended"
    if operation.headers:
        errors["409"] = "The idempotency key was used for another request"
    if operation.conflict is not None:
        errors["409"] = operation.conflict
    for status, description in sorted(errors.items()):
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": _ref(ErrorOut)}},
        }
    spec: dict[str, object] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "tags": list(operation.tags),
        "responses": responses,
        "parameters": _parameters(operation),
        "security": [{"apiKey": []}] if operation.scope is not None else [],
    }
    if operation.scope is not None:
        spec["x-scope"] = operation.scope
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body)}},
        }
    return spec


def _parameters(operation: Operation) -> list[dict[str, object]]:
    parameters: list[dict[str, object]] = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS[name]}
        for name in _PATH_PARAMETER.findall(operation.path)
    ]
    for name, description in operation.headers:
        parameters.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            }
        )
    if operation.query is not None:
        schema = operation.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", []))
        for name, field_schema in schema["properties"].items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in field_schema.items() if k != "title"},
                }
            )
    return parameters
