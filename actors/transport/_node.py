"""A node: serves one actor system's actors over TCP and connects to other nodes.

It owns the listener, the handshakes and the task group of every connection; what flows over
a connection is `Connection`'s business.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
from typing import TYPE_CHECKING, Final, final

import anyio
from anyio.abc import SocketAttribute, SocketListener
from anyio.streams.tls import TLSStream

from .._errors import HandshakeError, TransportError
from ._connection import DEFAULT_MAX_ASKS_IN_FLIGHT, Connection
from ._frames import DEFAULT_MAX_FRAME_SIZE, FrameReader
from ._handshake import (
    HANDSHAKE_MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    MIN_SECRET_SIZE,
    Limits,
    client_handshake,
    server_handshake,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator

    from anyio.abc import ByteStream, Listener, SocketStream, TaskGroup
    from anyio.streams.stapled import MultiListener

    from .._system import ActorSystem
    from ._codec import Codec

logger = logging.getLogger("repertory.actors.transport")

#: The default time a peer has to complete the TLS and authentication handshakes, in seconds.
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10.0

#: The default bound on handshakes in progress at once (unauthenticated peers).
DEFAULT_MAX_HANDSHAKES: Final = 64

#: How long leaving `open_node` waits for connections to send what they have queued.
CLOSE_TIMEOUT: Final = 5.0

# Accept errors that pass (too many open files, out of buffers): back off, keep serving.
_TRANSIENT_ACCEPT_ERRORS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
)


@final
class Node:
    """A running node: its actor system's actors, reachable by name from other nodes.

    Get one from `open_node`. Every connection, inbound or outbound, is served both ways.
    """

    def __init__(
        self,
        system: ActorSystem,
        task_group: TaskGroup,
        *,
        codec: Codec,
        secret: bytes,
        ssl_context: ssl.SSLContext | None,
        max_frame_size: int,
        handshake_timeout: float,
        max_asks_in_flight: int,
        max_handshakes: int,
    ) -> None:
        self.system = system
        self.codec = codec
        self._port: int | None = None
        self._task_group = task_group
        self._secret = secret
        self._ssl_context = ssl_context
        self._limits = Limits(max_frame_size, max_asks_in_flight)
        self._handshake_timeout = handshake_timeout
        self._max_handshakes = max_handshakes
        self._handshakes = 0  # inbound handshakes in progress
        self._connections: set[Connection] = set()
        self._listener_scope = anyio.CancelScope()
        self._is_closed = False

    @property
    def port(self) -> int:
        """The port this node listens on (the one picked for `port=0`).

        Raises:
            TransportError: the node does not listen (it was opened with `port=None`).
        """
        if self._port is None:
            raise TransportError("this node does not listen (it was opened with port=None)")
        return self._port

    @property
    def is_listening(self) -> bool:
        """True if this node accepts connections."""
        return self._port is not None

    @property
    def connections(self) -> tuple[Connection, ...]:
        """The open connections, inbound and outbound."""
        return tuple(self._connections)

    async def connect(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> Connection:
        """Connect to the node at `host:port` and authenticate both ways (blocks).

        Args:
            host: the peer's host name or address.
            port: the peer's port.
            ssl_context: a client TLS context to speak TLS (the peer must too); the peer's
                certificate is checked against `host`.

        Returns:
            The connection, once the handshake has succeeded.

        Raises:
            OSError: the TCP connection could not be made.
            HandshakeError: TLS or authentication failed, or took longer than the node's
                handshake timeout.
        """
        self._check_open()
        peer = f"{host}:{port}"
        raw = await anyio.connect_tcp(host, port)
        stream: ByteStream = raw
        try:
            with anyio.fail_after(self._handshake_timeout):
                if ssl_context is not None:
                    stream = await TLSStream.wrap(
                        raw,
                        server_side=False,
                        hostname=host,
                        ssl_context=ssl_context,
                        standard_compatible=False,
                    )
                reader = FrameReader(stream, HANDSHAKE_MAX_FRAME_SIZE)
                peer_limits = await client_handshake(stream, reader, self._secret, self._limits)
        except HandshakeError as exc:
            await anyio.aclose_forcefully(stream)
            raise HandshakeError(f"handshake with {peer} failed: {exc}") from exc
        except TimeoutError as exc:
            await anyio.aclose_forcefully(stream)
            raise HandshakeError(
                f"no handshake with {peer} within {self._handshake_timeout} s"
            ) from exc
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            await anyio.aclose_forcefully(stream)
            raise HandshakeError(f"handshake with {peer} failed: {exc!r}") from exc
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        try:
            self._check_open()  # it may have closed while we were shaking hands
        except TransportError:
            await anyio.aclose_forcefully(stream)
            raise
        connection = self._open_connection(stream, reader, peer_limits, peer)
        self._task_group.start_soon(connection._run, name=f"repertory connection to {peer}")
        return connection

    def _check_open(self) -> None:
        if self._is_closed:
            raise TransportError("this node is closed")

    def __repr__(self) -> str:
        return f"<Node of {self.system.name!r} port={self._port}>"

    # Serving.

    async def _serve(self, listener: MultiListener[SocketStream]) -> None:
        """Accept connections until the node closes, then stop listening (blocks)."""
        try:
            with self._listener_scope:
                async with anyio.create_task_group() as task_group:
                    for one in listener.listeners:
                        task_group.start_soon(self._accept_loop, one)
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()  # refuse new peers while the connections close

    async def _accept_loop(self, listener: Listener[SocketStream]) -> None:
        assert isinstance(listener, SocketListener)
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _TRANSIENT_ACCEPT_ERRORS:
                    raise
                logger.warning("cannot accept a connection (%s); backing off", exc)
                await anyio.sleep(0.1)
                continue
            if self._handshakes >= self._max_handshakes:
                logger.warning(
                    "dropping %s: %d handshakes are in progress already",
                    _describe_peer(stream),
                    self._handshakes,
                )
                await anyio.aclose_forcefully(stream)
                continue
            self._handshakes += 1  # counted here, so that a burst of peers is counted at once
            self._task_group.start_soon(self._serve_connection, stream)

    async def _serve_connection(self, raw: SocketStream) -> None:
        peer = _describe_peer(raw)
        try:
            authenticated = await self._authenticate(raw, peer)
        finally:
            self._handshakes -= 1
        if authenticated is not None:
            logger.info("accepted a connection from %s", peer)
            await self._open_connection(*authenticated, peer)._run()

    async def _authenticate(
        self, raw: SocketStream, peer: str
    ) -> tuple[ByteStream, FrameReader, Limits] | None:
        """Run the TLS and authentication handshakes with a peer that connected to us; on
        failure, log why, close the stream and return None (blocks)."""
        stream: ByteStream = raw
        try:
            with anyio.fail_after(self._handshake_timeout):
                if self._ssl_context is not None:
                    stream = await TLSStream.wrap(
                        raw,
                        server_side=True,
                        ssl_context=self._ssl_context,
                        standard_compatible=False,
                    )
                reader = FrameReader(stream, HANDSHAKE_MAX_FRAME_SIZE)
                peer_limits = await server_handshake(stream, reader, self._secret, self._limits)
        except TimeoutError:
            logger.warning("dropping %s: no handshake within %s s", peer, self._handshake_timeout)
            await anyio.aclose_forcefully(stream)
            return None
        except Exception as exc:
            logger.warning("dropping %s: handshake failed: %s", peer, str(exc) or repr(exc))
            await anyio.aclose_forcefully(stream)
            return None
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        return stream, reader, peer_limits

    def _open_connection(
        self, stream: ByteStream, reader: FrameReader, peer_limits: Limits, peer: str
    ) -> Connection:
        limits = self._limits
        reader.max_frame_size = limits.max_frame_size
        connection = Connection(
            system=self.system,
            codec=self.codec,
            stream=stream,
            reader=reader,
            peer=peer,
            max_send_size=min(limits.max_frame_size, peer_limits.max_frame_size),
            max_asks_in_flight=min(limits.max_asks_in_flight, peer_limits.max_asks_in_flight),
            forget=self._connections.discard,
        )
        self._connections.add(connection)
        return connection

    async def _close(self) -> None:
        """Stop listening and close every connection, sending what they have queued."""
        self._is_closed = True
        self._listener_scope.cancel()
        connections = list(self._connections)
        with anyio.move_on_after(CLOSE_TIMEOUT):
            async with anyio.create_task_group() as task_group:
                for connection in connections:
                    task_group.start_soon(connection.aclose)


def _check_secret(secret: object) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_SIZE:
        raise ValueError(
            f"secret must be bytes, at least {MIN_SECRET_SIZE} of them (random ones, such as "
            "secrets.token_bytes(32)), so that it cannot be guessed"
        )


def _describe_peer(stream: SocketStream) -> str:
    address = stream.extra(SocketAttribute.remote_address, None)
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)


@contextlib.asynccontextmanager
async def open_node(
    system: ActorSystem,
    *,
    codec: Codec,
    secret: bytes,
    host: str = "127.0.0.1",
    port: int | None = 0,
    ssl_context: ssl.SSLContext | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    max_asks_in_flight: int = DEFAULT_MAX_ASKS_IN_FLIGHT,
    max_handshakes: int = DEFAULT_MAX_HANDSHAKES,
) -> AsyncIterator[Node]:
    """Serve `system`'s actors over TCP, and connect to other nodes, until the block ends.

    Peers reach an actor by the name it was spawned with. Leaving the block stops listening
    and closes every connection (each first sends what it has queued, for up to
    `CLOSE_TIMEOUT` seconds in all); asks still waiting fail with `ConnectionLostError`.

    Args:
        system: the actor system whose actors this node serves.
        codec: the codec of every message type that crosses the wire (the same tags on
            every node).
        secret: the shared secret that every node of the cluster proves it knows: at least
            16 bytes, random (`secrets.token_bytes(32)`), since a peer may try to guess it.
        host: the address to listen on (the loopback interface by default).
        port: the port to listen on; 0 picks a free one (see `Node.port`), None does not
            listen at all (a client-only node).
        ssl_context: a server TLS context to accept TLS connections only.
        max_frame_size: the largest frame payload accepted or sent, in bytes; a peer that
            sends a larger one is disconnected.
        handshake_timeout: how long a peer has to complete the TLS and authentication
            handshakes, in seconds, both ways.
        max_asks_in_flight: per connection, how many asks may wait for an answer in each
            direction (more wait for room); the smaller of the two nodes' bounds applies. It
            also bounds the answers a peer that does not read can make this node hold.
        max_handshakes: how many peers may be shaking hands with this node at once; more
            are disconnected at once (and logged).

    Raises:
        ValueError: an argument is out of range (a secret shorter than 16 bytes, for instance).
        OSError: the port cannot be listened on.
    """
    _check_secret(secret)
    if not MIN_FRAME_SIZE <= max_frame_size < 2**32:
        raise ValueError(
            f"max_frame_size must be in [{MIN_FRAME_SIZE}, 2**32), got {max_frame_size}"
        )
    if not 0 < handshake_timeout < math.inf:
        raise ValueError(f"handshake_timeout must be > 0, got {handshake_timeout}")
    if not 1 <= max_asks_in_flight < 2**32:
        raise ValueError(f"max_asks_in_flight must be in [1, 2**32), got {max_asks_in_flight}")
    if max_handshakes < 1:
        raise ValueError(f"max_handshakes must be >= 1, got {max_handshakes}")
    listener = None
    if port is not None:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    body_error: Exception | None = None
    try:
        async with anyio.create_task_group() as task_group:
            node = Node(
                system,
                task_group,
                codec=codec,
                secret=secret,
                ssl_context=ssl_context,
                max_frame_size=max_frame_size,
                handshake_timeout=handshake_timeout,
                max_asks_in_flight=max_asks_in_flight,
                max_handshakes=max_handshakes,
            )
            if listener is not None:
                node._port = listener.extra(SocketAttribute.local_port)
                task_group.start_soon(node._serve, listener, name=f"repertory node {host}:{port}")
            try:
                yield node
            except Exception as exc:
                body_error = exc  # re-raised below, so that the task group does not wrap it
            finally:
                with anyio.CancelScope(shield=True):
                    await node._close()
                task_group.cancel_scope.cancel()
    finally:
        if listener is not None:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
    if body_error is not None:
        raise body_error
