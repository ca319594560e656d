"""Between nodes: the msgpack wire codec and the TCP transport (remote refs, same tell/ask API).

It builds on the kernel only; nothing above `repertory.actors` is known here.
"""

from __future__ import annotations

from ._codec import Codec as Codec
from ._connection import Connection as Connection
from ._frames import DEFAULT_MAX_FRAME_SIZE as DEFAULT_MAX_FRAME_SIZE
from ._node import Node as Node
from ._node import open_node as open_node
from ._remote import RemoteActorRef as RemoteActorRef

__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_architecture.py checks
    "Codec",
    "Connection",
    "DEFAULT_MAX_FRAME_SIZE",
    "Node",
    "RemoteActorRef",
    "open_node",
]
