"""The name registry of one actor system: unique names, looked up to refs."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, final

from ._errors import ActorNameTakenError, ActorNotFoundError

if TYPE_CHECKING:
    from ._cell import ActorCell
    from ._ref import ActorRef

MAX_NAME_LENGTH = 200


@final
class Registry:
    """Maps each live actor's name to its cell (its ref, slot and supervisor)."""

    def __init__(self) -> None:
        self._entries: dict[str, ActorCell | None] = {}
        self._counter = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def make_name(self, base: str) -> str:
        """Return a fresh name such as `Counter-3`."""
        while True:
            name = f"{base}-{next(self._counter)}"
            if name not in self._entries:
                return name

    def claim(self, name: str | None, base: str) -> str:
        """Reserve `name` (or a fresh one made from `base`) until it is bound or released."""
        if name is None:
            name = self.make_name(base)
        elif not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise ValueError(f"an actor name must be 1-{MAX_NAME_LENGTH} printable characters")
        elif name in self._entries:
            raise ActorNameTakenError(name)
        self._entries[name] = None
        return name

    def bind(self, cell: ActorCell) -> None:
        self._entries[cell.name] = cell

    def release(self, name: str) -> None:
        self._entries.pop(name, None)

    def lookup(self, name: str) -> ActorRef:
        """Return the ref of the live actor called `name`.

        Raises:
            ActorNotFoundError: no live actor has that name.
        """
        return self.cell(name).ref

    def cell(self, name: str) -> ActorCell:
        """Return the cell of the live actor called `name`."""
        cell = self._entries.get(name)
        if cell is None:
            raise ActorNotFoundError(name)
        return cell
