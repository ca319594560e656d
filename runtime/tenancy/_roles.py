"""Scopes name what a call may do; a role is a set of scopes, and every API key carries one.

Every REST route (and, later, every MCP tool) declares the one scope it needs; a key whose
role lacks it is refused (403). Built-in roles, from most to least:

- owner: everything, the workspace itself included;
- admin: everything but the workspace itself (keys, the audit log, runs, the cache);
- developer: run and read (flows, runs, the cache);
- runner: create and read runs only;
- viewer: read only.

A workspace may add custom roles, each a set of these scopes (`Runtime.create_role`).
Managing the workspaces themselves (`workspaces:admin`) belongs to no role: only to server
admin keys, such as the one a server makes on its first start.
"""

from __future__ import annotations

from typing import Final

from .._tenancy_records import Role

#: Every scope there is, and what it allows.
SCOPES: Final = {
    "flows:read": "list the flows a server runs",
    "flow_runs:read": "read flow runs, their task runs, states and logs",
    "flow_runs:write": "create and cancel flow runs",
    "cache:read": "list cache entries",
    "cache:write": "invalidate cache entries",
    "keys:admin": "create, list and revoke API keys",
    "audit:read": "read the audit log",
    "workspace:admin": "rename or delete the workspace",
}

#: What only a server admin key may do, whatever its role: manage the workspaces themselves.
SERVER_SCOPE: Final = "workspaces:admin"

_READ: Final = frozenset({"flows:read", "flow_runs:read", "cache:read"})
_RUN: Final = frozenset({"flows:read", "flow_runs:read", "flow_runs:write"})

#: The built-in roles and their scopes.
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "owner": frozenset(SCOPES),
    "admin": frozenset(SCOPES) - {"workspace:admin"},
    "developer": _READ | _RUN | {"cache:write"},
    "runner": _RUN,
    "viewer": _READ,
}

ROLES: Final = frozenset(ROLE_SCOPES)


BUILTIN_ROLES: Final = tuple(
    Role(name=name, scopes=scopes, is_builtin=True) for name, scopes in ROLE_SCOPES.items()
)


def scopes_of(role: str) -> frozenset[str]:
    """The scopes of a role; an unknown role has none (so it can do nothing)."""
    return ROLE_SCOPES.get(role, frozenset())


def may_grant(granter: str, role: str) -> bool:
    """Whether a key of role `granter` may make a key of `role`: never one that could do
    more than itself."""
    return role in ROLE_SCOPES and scopes_of(role) <= scopes_of(granter)
