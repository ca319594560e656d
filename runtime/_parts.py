"""What the parts of `Runtime` may use of it.

`Runtime`'s methods over API keys, the audit log and the cache live with their concerns
(`tenancy/`, `cache/`), each in a class of its own that owns its state; `Runtime` is made of
them. This base says, once and checked, what they all build on: the default workspace, the
clock, the store, and the actors of a running runtime. `Runtime` implements it; a part
that needs more of it adds it here, not a private attribute of another part.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from repertory.actors import ActorRef, Clock

    from .cache._cached_task import CacheManagers
    from .storage._requests import StoreRequest
    from .tenancy._workspace import Workspaces

T = TypeVar("T")


class RuntimeBase(abc.ABC):
    """The runtime as its parts see it."""

    #: The workspace runs are created in and read from by default.
    workspace: str

    @property
    @abc.abstractmethod
    def clock(self) -> Clock:
        """The clock the runtime waits on and judges time by."""

    @abc.abstractmethod
    async def _ask(self, request: StoreRequest[T]) -> T:
        """The store actor's answer to `request` (raises RuntimeNotRunningError)."""

    @abc.abstractmethod
    async def _read(self, request: StoreRequest[T], *, workspace: str | None = None) -> T:
        """`request` answered on a reading connection, beside the store's writes."""

    @abc.abstractmethod
    async def _workspace_ref(self, chain: str) -> ActorRef:
        """The actor of workspace (or audit chain) `chain`, started if need be."""

    @abc.abstractmethod
    def _running_caches(self) -> CacheManagers:
        """The cache managers (raises RuntimeNotRunningError when stopped)."""

    @abc.abstractmethod
    def _running_workspaces(self) -> Workspaces:
        """The workspace actors (raises RuntimeNotRunningError when stopped)."""
