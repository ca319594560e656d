"""API keys on the runtime: created, checked, expired, revoked, scoped, stored only hashed."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from repertory.runtime import ApiKeyNotFoundError, Runtime
from repertory.runtime._records import utc_now
from repertory.runtime.tenancy._api_keys import split_key
from repertory.runtime.tenancy._runtime_keys import KEY_CACHE_SECONDS
from repertory.testing import FakeClock


async def test_a_key_authenticates_and_nothing_else_does(database_url: str) -> None:
    async with Runtime(database_url, workspace="a") as rt:
        key, whole = await rt.create_api_key("deploy", role="developer")
        assert (key.workspace, key.name, key.role) == ("a", "deploy", "developer")
        assert await rt.authenticate(whole) == key
        parts = split_key(whole)
        assert parts is not None
        key_id, secret = parts
        wrong = f"rpk_{key_id}_{'0' * 64 if secret != '0' * 64 else '1' * 64}"
        for presented in (wrong, "rpk_00000000_" + secret, "", "rpk", whole + "0", whole.upper()):
            assert await rt.authenticate(presented) is None, presented


async def test_keys_are_stored_hashed_and_outlive_the_runtime(database_url: str) -> None:
    async with Runtime(database_url, workspace="a") as rt:
        key, whole = await rt.create_api_key("ci")
    async with Runtime(database_url, workspace="a") as rt:
        assert await rt.authenticate(whole) == key
        [listed] = await rt.read_api_keys()
        assert listed == key
    secret = whole.rsplit("_", 1)[1]
    if database_url.startswith("sqlite"):
        path = anyio.Path(database_url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if await file.exists():
                assert secret.encode() not in await file.read_bytes()


async def test_an_expired_key_stops_working(database_url: str) -> None:
    async with Runtime(database_url) as rt:
        _, expired = await rt.create_api_key("old", expires=utc_now() - timedelta(seconds=1))
        _, later = await rt.create_api_key("new", expires=utc_now() + timedelta(hours=1))
        assert await rt.authenticate(expired) is None
        assert await rt.authenticate(later) is not None


async def test_revoking_stops_a_key_at_once_and_only_in_its_workspace(database_url: str) -> None:
    async with Runtime(database_url, workspace="a") as rt:
        key, whole = await rt.create_api_key("ci")
        other, other_whole = await rt.create_api_key("ci", workspace="b")
        assert await rt.authenticate(whole) is not None  # now cached
        with pytest.raises(ApiKeyNotFoundError):
            await rt.revoke_api_key(other.id)  # not in workspace "a"
        assert await rt.authenticate(other_whole) is not None
        revoked = await rt.revoke_api_key(key.id)
        assert revoked.revoked is not None
        assert await rt.authenticate(whole) is None
        with pytest.raises(ApiKeyNotFoundError):
            await rt.revoke_api_key("ffffffff")
        assert [k.id for k in await rt.read_api_keys(workspace="b")] == [other.id]


async def test_bad_roles_and_names_are_refused(database_url: str) -> None:
    async with Runtime(database_url) as rt:
        with pytest.raises(ValueError, match="role"):
            await rt.create_api_key("x", role="god")
        for name in ("", "x" * 201):
            with pytest.raises(ValueError, match="name"):
                await rt.create_api_key(name)
        assert await rt.read_api_keys() == []


async def test_a_revocation_elsewhere_takes_effect_here_once_the_key_cache_expires(
    database_url: str,
) -> None:
    clock = FakeClock()
    async with Runtime(database_url, clock=clock) as here, Runtime(database_url) as there:
        key, whole = await here.create_api_key("ci")
        assert await here.authenticate(whole) == key  # looked up, and trusted for a while
        await there.revoke_api_key(key.id)
        assert await here.authenticate(whole) == key
        clock.advance(KEY_CACHE_SECONDS - 0.5)
        assert await here.authenticate(whole) == key
        clock.advance(1.0)  # the runtime's own clock, not the system's, says when
        assert await here.authenticate(whole) is None
