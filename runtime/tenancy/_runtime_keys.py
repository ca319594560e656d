"""The runtime's methods over API keys and roles: a part of `Runtime` (see `RuntimeBase`). A
workspace's keys and custom roles are written through its `WorkspaceActor`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from .._errors import ApiKeyNotFoundError, RoleExistsError, RoleInUseError
from .._parts import RuntimeBase
from .._tenancy_records import ApiKey, Role
from .._text import check_text
from ..storage._requests import ReadApiKey
from ._api_keys import PREFIX, new_key, secret_matches, split_key
from ._roles import BUILTIN_ROLES, ROLES, SCOPES, scopes_of
from ._workspace import (
    AddApiKey,
    AddRole,
    DeleteRole,
    ReadApiKeys,
    ReadRoles,
    RevokeApiKey,
    RotateApiKey,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

#: How long a key (or a custom role's scopes) read from the database is trusted before it is
#: read again: a revocation through this runtime is at once, through another within this.
KEY_CACHE_SECONDS: Final = 5.0
_ROLE_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


class KeysAccess(RuntimeBase):
    """Making, checking, listing and revoking API keys; custom roles."""

    def __init__(self) -> None:
        super().__init__()
        # Keys looked up lately, with their secrets' hashes and when to look again: a
        # revocation through this runtime drops a key at once, one through another runtime on
        # the same database within KEY_CACHE_SECONDS.
        self._keys: dict[str, tuple[ApiKey, str, float]] = {}
        # Custom roles' scopes looked up lately, by (workspace, role), and when to look again.
        self._role_scopes: dict[tuple[str, str], tuple[frozenset[str], float]] = {}

    def _forget_keys_of(self, workspace: str) -> None:
        """Look a renamed or deleted workspace's keys and roles up again when next used."""
        self._keys = {k: v for k, v in self._keys.items() if v[0].workspace != workspace}
        self._role_scopes = {k: v for k, v in self._role_scopes.items() if k[0] != workspace}

    # -- roles -------------------------------------------------------------------------------

    async def create_role(
        self, name: str, scopes: Iterable[str], *, workspace: str | None = None
    ) -> Role:
        """Add a custom role to the workspace: a name for a set of scopes (blocks).

        Raises:
            ValueError: a bad name, a built-in role's name, no scope, or an unknown one.
            RoleExistsError: the workspace has a role of that name.
        """
        wanted = frozenset(scopes)
        if not _ROLE_NAME.fullmatch(name) or name.casefold() in ROLES:
            raise ValueError(  # "Owner" would read as the built-in role in every listing
                "a custom role needs a name of its own, not a built-in role's in any case "
                f"(A-Z a-z 0-9 _ . : -), not {name[:50]!r}"
            )
        unknown = wanted - set(SCOPES)
        if not wanted or unknown:
            raise ValueError(
                f"a role is a set of the scopes {', '.join(sorted(SCOPES))}; "
                f"unknown: {', '.join(sorted(unknown)) or 'none given'}"
            )
        role = Role(name=name, scopes=wanted)
        ref = await self._workspace_ref(workspace or self.workspace)
        if not await ref.ask(AddRole(role=role, created=self.clock.utc_now())):
            raise RoleExistsError(name)
        return role

    async def read_roles(self, *, workspace: str | None = None) -> list[Role]:
        """The built-in roles, then the workspace's own, by name (blocks)."""
        ref = await self._workspace_ref(workspace or self.workspace)
        return [*BUILTIN_ROLES, *await ref.ask(ReadRoles())]

    async def delete_role(self, name: str, *, workspace: str | None = None) -> None:
        """Delete a custom role (blocks).

        Raises:
            LookupError: the workspace has no custom role of that name.
            RoleInUseError: a key that is not revoked carries it.
        """
        ws = workspace or self.workspace
        outcome = await (await self._workspace_ref(ws)).ask(DeleteRole(name=name))
        if outcome == "missing":
            raise LookupError(f"no custom role {name!r} in workspace {ws!r}")
        if outcome == "in use":
            raise RoleInUseError(name)
        self._role_scopes.pop((ws, name), None)

    async def scopes_of_role(self, role: str, *, workspace: str | None = None) -> frozenset[str]:
        """What a key of `role` may do in the workspace: a built-in role's scopes, or a custom
        one's (read again after KEY_CACHE_SECONDS); none for a role that does not exist."""
        if role in ROLES:
            return scopes_of(role)
        ws = workspace or self.workspace
        cached = self._role_scopes.get((ws, role))
        if cached is not None and cached[1] > self.clock.now():
            return cached[0]
        ref = await self._workspace_ref(ws)
        found = next((r.scopes for r in await ref.ask(ReadRoles()) if r.name == role), frozenset())
        self._role_scopes[ws, role] = (found, self.clock.now() + KEY_CACHE_SECONDS)
        return found

    # -- API keys --------------------------------------------------------------------------

    async def create_api_key(
        self,
        name: str,
        *,
        role: str = "owner",
        expires: datetime | None = None,
        workspace: str | None = None,
        server_admin: bool = False,
    ) -> tuple[ApiKey, str]:
        """Create an API key and return it with the whole key, which is shown this once only:
        what is stored is a hash of its secret (blocks).

        Raises:
            ValueError: an unknown role, or an empty or overlong name.
        """
        ws = workspace or self.workspace
        check_text(name, "an API key's name")
        check_text(ws, "a workspace's name")
        if role not in ROLES and not await self.scopes_of_role(role, workspace=ws):
            known = [r.name for r in await self.read_roles(workspace=ws)]
            raise ValueError(f"unknown role {role!r}: one of {', '.join(known)}")
        if not name or len(name) > 200:
            raise ValueError("an API key's name must have 1 to 200 characters")
        key_id, whole, secret_hash = new_key()
        key = ApiKey(
            id=key_id,
            workspace=workspace or self.workspace,
            name=name,
            role=role,
            created=self.clock.utc_now(),
            expires=expires,
            is_server_admin=server_admin,
        )
        ref = await self._workspace_ref(key.workspace)
        await ref.ask(AddApiKey(key=key, secret_hash=secret_hash))
        return key, whole

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The key that `presented` is, if it is one and may be used now; else None (blocks).

        Malformed, unknown, wrong, revoked and expired keys all give None, after the same
        constant-time comparison of hashes.
        """
        parts = split_key(presented)
        if parts is None:
            secret_matches(presented, None)  # as long as for a key in the right format
            return None
        key_id, secret = parts
        cached = self._keys.get(key_id)
        if cached is not None and cached[2] > self.clock.now():
            found: tuple[ApiKey, str] | None = (cached[0], cached[1])
        else:
            found = await self._read(ReadApiKey(key_id=key_id))
            if found is None:
                self._keys.pop(key_id, None)
            else:
                self._keys[key_id] = (*found, self.clock.now() + KEY_CACHE_SECONDS)
        key, stored_hash = found if found is not None else (None, None)
        if not secret_matches(secret, stored_hash) or key is None:
            return None
        return key if key.is_valid_at(self.clock.utc_now()) else None

    async def read_api_keys(self, *, workspace: str | None = None) -> list[ApiKey]:
        """The workspace's API keys, oldest first, revoked ones included (blocks)."""
        ref = await self._workspace_ref(workspace or self.workspace)
        return await ref.ask(ReadApiKeys())

    async def rotate_api_key(
        self, key_id: str, *, workspace: str | None = None
    ) -> tuple[ApiKey, str]:
        """Give a key a new secret and return the key with its new whole key, shown this once;
        the old one stops working at once here, within KEY_CACHE_SECONDS elsewhere (blocks).
        Its id, name, role and expiry stay.

        Raises:
            ApiKeyNotFoundError: the workspace has no such key that works (revoked and
                expired keys stay as they are).
        """
        ws = workspace or self.workspace
        check_text(key_id, "a key's id")
        _, secret, secret_hash = new_key()
        ref = await self._workspace_ref(ws)
        key = await ref.ask(RotateApiKey(key_id=key_id, secret_hash=secret_hash))
        self._keys.pop(key_id, None)
        if key is None:
            raise ApiKeyNotFoundError(key_id, ws)
        return key, f"{PREFIX}_{key_id}_{secret.rsplit('_', 1)[1]}"

    async def revoke_api_key(self, key_id: str, *, workspace: str | None = None) -> ApiKey:
        """Revoke an API key: it stops working at once (blocks).

        Raises:
            ApiKeyNotFoundError: no such key in the workspace.
        """
        ws = workspace or self.workspace
        check_text(key_id, "a key's id")
        ref = await self._workspace_ref(ws)
        key = await ref.ask(RevokeApiKey(key_id=key_id))
        self._keys.pop(key_id, None)  # this runtime stops taking it at once
        if key is None:
            raise ApiKeyNotFoundError(key_id, ws)
        return key
