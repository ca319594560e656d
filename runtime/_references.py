"""What names a run where people type one: its id, its exact name, a unique prefix of its id,
or its id's last 6 or more hex digits (tables show the last 8: a UUIDv7's first digits are
its creation time, shared by every run of the same minute)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, final

__all__ = ["MIN_ID_SUFFIX", "RunReference"]

#: Hex digits an id's suffix must have to name a run (fewer would match too many).
MIN_ID_SUFFIX: Final = 6

_PREFIX: Final = re.compile(r"[0-9a-f][0-9a-f-]{0,35}")
_SUFFIX: Final = re.compile(rf"[0-9a-f]{{{MIN_ID_SUFFIX},12}}")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunReference:
    """How a text may name a run: by name, and by a prefix or suffix of its id when it has
    their shape (only hex digits and dashes, so it holds no pattern characters)."""

    name: str
    id_prefix: str | None = None
    id_suffix: str | None = None

    @classmethod
    def of(cls, text: str) -> RunReference:
        hexes = text.strip().lower()
        return cls(
            name=text,
            id_prefix=hexes if _PREFIX.fullmatch(hexes) else None,
            id_suffix=hexes if _SUFFIX.fullmatch(hexes) else None,
        )
