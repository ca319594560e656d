"""The TCP transport under attack: handshakes, hostile peers on raw sockets, and TLS.

The raw peers here speak the wire protocol by hand (length-prefixed msgpack frames and the
HMAC-SHA256 handshake), so these tests also pin the protocol down.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import ssl
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import msgpack
import pytest
import trustme
from anyio.abc import ByteReceiveStream, ObjectReceiveStream, SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from repertory.actors import Actor, ConnectionLostError, HandshakeError, Request
from repertory.actors.testing import open_test_system, spawn_probe
from repertory.actors.transport import Codec, Node, open_node
from repertory.actors.transport._frames import FrameReader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from repertory.actors import ActorSystem

SECRET = b"security-test-secret"
HEADER = struct.Struct(">I")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Echo(Request[int]):
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Blob:
    data: bytes


class NotAColorError(Exception):
    """What `Color` raises for a bad name: not a TypeError nor a ValueError."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Color:
    name: str

    def __post_init__(self) -> None:
        if self.name not in {"red", "green"}:
            raise NotAColorError(self.name)


CODEC = Codec({"test.ping": Ping, "test.echo": Echo, "test.blob": Blob, "test.color": Color})


class EchoActor(Actor):
    async def receive(self, message: object) -> object:
        if isinstance(message, Echo):
            return message.seq
        self.unhandled(message)


class StuckActor(Actor):
    """Never answers."""

    async def receive(self, message: object) -> object:
        await anyio.sleep_forever()
        return None


@contextlib.asynccontextmanager
async def open_server(
    system: ActorSystem,
    *,
    handshake_timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
    max_handshakes: int = 64,
) -> AsyncIterator[Node]:
    await system.spawn(EchoActor, name="echo")
    async with open_node(
        system,
        codec=CODEC,
        secret=SECRET,
        handshake_timeout=handshake_timeout,
        ssl_context=ssl_context,
        max_handshakes=max_handshakes,
    ) as node:
        yield node


async def assert_good_client_is_served(server: Node) -> None:
    async with (
        open_test_system() as system,
        open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
    ):
        connection = await node.connect("127.0.0.1", server.port)
        assert await connection.ref("echo").ask(Echo(seq=5)) == 5


# A peer that speaks the protocol by hand.


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


async def receive_frame(stream: BufferedByteReceiveStream) -> object:
    (length,) = HEADER.unpack(await stream.receive_exactly(4))
    return msgpack.unpackb(await stream.receive_exactly(length), use_list=False)


#: The frame size limit and the bound on asks in flight that the raw peers announce.
RAW_MAX_FRAME_SIZE = 1 << 20
RAW_MAX_ASKS = 1000


def proof(
    label: bytes,
    first: bytes,
    second: bytes,
    limits: tuple[int, int, int, int],
    secret: bytes = SECRET,
) -> bytes:
    """The HMAC a peer proves itself with; `limits` are the client's and the server's max
    frame sizes, then their max asks in flight."""
    message = label + first + second + struct.pack(">IIII", *limits)
    return hmac.new(secret, message, hashlib.sha256).digest()


def hello(version: int = 2, nonce: bytes | None = None, max_asks: int = RAW_MAX_ASKS) -> bytes:
    nonce = nonce or os.urandom(32)
    return frame(msgpack.packb(["repertory", version, nonce, RAW_MAX_FRAME_SIZE, max_asks]))


async def trickle(stream: SocketStream, data: bytes) -> None:
    """Send `data` in pieces that cut the first header and payload, letting the peer read
    each piece on its own."""
    for piece in (data[:2], data[2:6], data[6:]):
        await stream.send(piece)
        await anyio.wait_all_tasks_blocked()


async def client_handshake(
    stream: SocketStream,
    *,
    is_trickled: bool = False,
    pipelined: bytes = b"",
    max_asks: int = RAW_MAX_ASKS,
    before_proof: Callable[[], Awaitable[None]] | None = None,
) -> BufferedByteReceiveStream:
    """Authenticate as a client by hand; return the buffered stream to read what follows.

    `pipelined` is sent right behind the proof, without waiting for the welcome;
    `before_proof` is awaited between the challenge and the proof.
    """

    async def send(data: bytes) -> None:
        await (trickle(stream, data) if is_trickled else stream.send(data))

    reader = BufferedByteReceiveStream(stream)
    client_nonce = os.urandom(32)
    await send(hello(nonce=client_nonce, max_asks=max_asks))
    challenge = await receive_frame(reader)
    assert isinstance(challenge, tuple)
    tag, server_nonce, server_max_frame_size, server_max_asks = challenge  # and no proof yet
    assert tag == "challenge"
    if before_proof is not None:
        await before_proof()
    limits = (RAW_MAX_FRAME_SIZE, server_max_frame_size, max_asks, server_max_asks)
    client_proof = proof(b"client", server_nonce, client_nonce, limits)
    await send(frame(msgpack.packb(["proof", client_proof])) + pipelined)
    server_proof = proof(b"server", client_nonce, server_nonce, limits)
    assert await receive_frame(reader) == ("welcome", server_proof)
    return reader


async def server_handshake(stream: SocketStream) -> BufferedByteReceiveStream:
    """Authenticate as a server by hand; return the buffered stream to read what follows."""
    reader = BufferedByteReceiveStream(stream)
    client_hello = await receive_frame(reader)
    assert isinstance(client_hello, tuple)
    _, _, client_nonce, client_max_frame_size, client_max_asks = client_hello
    server_nonce = os.urandom(32)
    limits = (client_max_frame_size, RAW_MAX_FRAME_SIZE, client_max_asks, RAW_MAX_ASKS)
    challenge = ["challenge", server_nonce, RAW_MAX_FRAME_SIZE, RAW_MAX_ASKS]
    await stream.send(frame(msgpack.packb(challenge)))
    client_proof = proof(b"client", server_nonce, client_nonce, limits)
    assert await receive_frame(reader) == ("proof", client_proof)
    server_proof = proof(b"server", client_nonce, server_nonce, limits)
    await stream.send(frame(msgpack.packb(["welcome", server_proof])))
    return reader


async def assert_disconnected(stream: SocketStream | BufferedByteReceiveStream) -> None:
    """Read until the peer drops the connection (what it sends before that is ignored)."""
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
        while True:
            await stream.receive()


@contextlib.asynccontextmanager
async def open_raw_server() -> AsyncIterator[tuple[int, ObjectReceiveStream[SocketStream]]]:
    """Listen on a free port; yield it and a stream of the connections accepted there."""
    send, receive = anyio.create_memory_object_stream[SocketStream](10)
    async with (
        send,
        receive,
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as task_group,
    ):
        task_group.start_soon(listener.serve, send.send)
        yield listener.extra(SocketAttribute.local_port), receive
        task_group.cancel_scope.cancel()


# Handshakes.


async def test_a_wrong_secret_fails_the_handshake_and_the_server_serves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="repertory.actors.transport")
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            async with (
                open_test_system() as system,
                open_node(
                    system, codec=CODEC, secret=b"wrong-secret-of-32-bytes-long", port=None
                ) as node,
            ):
                with pytest.raises(HandshakeError, match=r"rejected .* authentication failed"):
                    await node.connect("127.0.0.1", server_node.port)
                assert node.connections == ()
            await assert_good_client_is_served(server_node)
            assert server_node.connections == ()  # the good client has gone again
    assert "handshake failed" in caplog.text
    assert SECRET.decode() not in caplog.text
    assert "wrong-secret" not in caplog.text


async def test_a_client_with_a_wrong_proof_is_rejected_without_the_server_proof() -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server) as server_node,
            await anyio.connect_tcp("127.0.0.1", server_node.port) as stream,
        ):
            reader = BufferedByteReceiveStream(stream)
            await stream.send(hello())
            challenge = await receive_frame(reader)
            assert isinstance(challenge, tuple)
            # Nothing in it is keyed with the secret: no oracle to guess it offline.
            assert challenge[0] == "challenge"
            assert [type(field) for field in challenge[1:]] == [bytes, int, int]
            assert len(challenge[1]) == 32  # the server's nonce
            await stream.send(frame(msgpack.packb(["proof", bytes(32)])))
            assert await receive_frame(reader) == ("reject", "authentication failed")
            await assert_disconnected(reader)
            await assert_good_client_is_served(server_node)


async def test_a_server_without_the_secret_is_refused_by_the_client() -> None:
    with anyio.fail_after(10):
        async with (
            open_raw_server() as (port, accepted),
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
            anyio.create_task_group() as task_group,
        ):

            async def impostor() -> None:
                async with await accepted.receive() as stream:
                    reader = BufferedByteReceiveStream(stream)
                    client_hello = await receive_frame(reader)
                    assert isinstance(client_hello, tuple)
                    nonce = os.urandom(32)
                    limits = (client_hello[3], RAW_MAX_FRAME_SIZE, client_hello[4], RAW_MAX_ASKS)
                    challenge = ["challenge", nonce, RAW_MAX_FRAME_SIZE, RAW_MAX_ASKS]
                    await stream.send(frame(msgpack.packb(challenge)))
                    client_proof = await receive_frame(reader)
                    assert isinstance(client_proof, tuple)
                    assert client_proof[0] == "proof"
                    forged = proof(b"server", client_hello[2], nonce, limits, secret=b"guess")
                    await stream.send(frame(msgpack.packb(["welcome", forged])))
                    await assert_disconnected(reader)

            task_group.start_soon(impostor)
            with pytest.raises(HandshakeError, match="failed to prove"):
                await node.connect("127.0.0.1", port)


async def test_an_unsupported_protocol_version_is_rejected() -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server) as server_node,
            await anyio.connect_tcp("127.0.0.1", server_node.port) as stream,
        ):
            reader = BufferedByteReceiveStream(stream)
            await stream.send(hello(version=99))
            assert await receive_frame(reader) == ("reject", "unsupported protocol version 99")
            await assert_disconnected(reader)


async def test_a_silent_peer_is_dropped_after_the_handshake_timeout() -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, handshake_timeout=0.2) as server_node,
            await anyio.connect_tcp("127.0.0.1", server_node.port) as stream,
        ):
            await assert_disconnected(stream)
            await assert_good_client_is_served(server_node)


async def test_a_silent_server_fails_the_handshake_after_the_timeout() -> None:
    with anyio.fail_after(10):
        async with (
            open_raw_server() as (port, accepted),
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None, handshake_timeout=0.2) as node,
        ):
            with pytest.raises(HandshakeError, match=r"no handshake .* within 0\.2 s"):
                await node.connect("127.0.0.1", port)
            async with await accepted.receive() as stream:
                await assert_disconnected(stream)


async def test_connecting_to_a_closed_port_raises_os_error() -> None:
    with anyio.fail_after(10):
        async with open_raw_server() as (port, _):
            pass  # the port is free again
        async with (
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
        ):
            with pytest.raises(OSError):  # noqa: PT011 - the OS words it
                await node.connect("127.0.0.1", port)


# Hostile peers.


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
        pytest.param(b"\xff\xff\xff\xff", id="oversize-length"),
        pytest.param(frame(b"\xc1"), id="malformed-msgpack"),
        pytest.param(frame(msgpack.packb({"hello": 1})), id="wrong-shape"),
        pytest.param(frame(b"\x01") + b"\x00\x00", id="cut-short"),
        pytest.param(b"\x00\x00\x00\x10abc", id="ends-mid-frame"),
        pytest.param(
            frame(msgpack.packb(["repertory", 2, bytes(32), RAW_MAX_FRAME_SIZE, 0])),
            id="no-asks-in-flight",
        ),
        pytest.param(
            frame(msgpack.packb(["repertory", 2, bytes(32), RAW_MAX_FRAME_SIZE])), id="short-hello"
        ),
    ],
)
async def test_garbage_before_the_handshake_is_disconnected(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="repertory.actors.transport")
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, handshake_timeout=5) as server_node,
        ):
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                await stream.send(data)
                await stream.send_eof()
                await assert_disconnected(stream)
            await assert_good_client_is_served(server_node)
    assert "dropping 127.0.0.1" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x7f\xff\xff\xff", id="oversize-length"),
        pytest.param(frame(b"\xc1"), id="malformed-msgpack"),
        pytest.param(frame(msgpack.packb("tell")), id="not-an-array"),
        pytest.param(frame(msgpack.packb([])), id="empty-array"),
        pytest.param(frame(msgpack.packb([99, "echo"])), id="unknown-kind"),
        pytest.param(frame(msgpack.packb([0, "echo"])), id="short-tell"),
        pytest.param(frame(msgpack.packb([0, "echo", None])), id="none-without-value"),
        pytest.param(frame(msgpack.packb([0, 42, None, 1])), id="tell-without-name"),
        pytest.param(frame(msgpack.packb([1, "x", "echo", None, 1])), id="ask-without-id"),
        pytest.param(frame(msgpack.packb([2, "x", None, 1])), id="reply-without-id"),
        pytest.param(frame(msgpack.packb([3, 1, 99, "a", "b"])), id="unknown-error-kind"),
        pytest.param(frame(msgpack.packb([0, "echo", "nope", 1])), id="unknown-tag"),
        pytest.param(frame(msgpack.packb([0, "echo", 5, 1])), id="tag-not-a-str"),
        pytest.param(frame(msgpack.packb([0, "echo", "test.ping", 1, 2])), id="extra-field"),
        pytest.param(frame(msgpack.packb([0, "echo", None, 1, 2])), id="two-values"),
        pytest.param(
            frame(msgpack.packb([0, "echo", None, msgpack.ExtType(1, msgpack.packb(["nope"]))])),
            id="unknown-nested-tag",
        ),
        pytest.param(frame(msgpack.packb([0, "echo", "test.color", "blue"])), id="invalid-tell"),
        pytest.param(frame(msgpack.packb([1, 0, "echo", "test.color", "blue"])), id="invalid-ask"),
        pytest.param(
            frame(
                msgpack.packb(
                    [0, "echo", None, msgpack.ExtType(1, msgpack.packb(["test.color", "x"]))]
                )
            ),
            id="invalid-nested-message",
        ),
        pytest.param(
            frame(b"\x93\x00\xa4echo\xc0" + b"\xc7\x0c\xff" + struct.pack(">Iq", 0, 2**62)),
            id="timestamp-out-of-range",
        ),
    ],
)
async def test_garbage_after_the_handshake_is_disconnected(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="repertory.actors.transport")
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                reader = await client_handshake(stream)
                await stream.send(data)
                await assert_disconnected(reader)
            await assert_good_client_is_served(server_node)
    assert "broke the protocol" in caplog.text or "dropping" in caplog.text
    assert SECRET.decode() not in caplog.text


async def test_a_raw_client_that_speaks_the_protocol_is_served() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                reader = await client_handshake(stream)
                # A message travels inline at the end of its frame, as its tag and fields.
                tell = [0, "probe", "test.ping", 3]
                ask = [1, 7, "echo", "test.echo", 9]
                missing = [1, 8, "nobody", None, "anything"]
                # Any other value travels after a None tag, with messages inside it as ext values.
                nested = [0, "probe", None, [msgpack.ExtType(1, msgpack.packb(["test.ping", 4]))]]
                frames = (tell, ask, missing, nested)
                await stream.send(b"".join(frame(msgpack.packb(f)) for f in frames))
                assert await probe.receive() == Ping(seq=3)
                assert await probe.receive() == (Ping(seq=4),)
                answers = {await receive_frame(reader), await receive_frame(reader)}
                assert answers == {(2, 7, None, 9), (3, 8, 1, "nobody", "no actor named 'nobody'")}
                await stream.send(frame(msgpack.packb([4])))  # goodbye
                await assert_disconnected(reader)


async def test_frames_sent_right_behind_the_proof_are_served() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                tells = [frame(msgpack.packb([0, "probe", "test.ping", seq])) for seq in range(2)]
                await client_handshake(stream, pipelined=b"".join(tells))
                assert [await probe.receive() for _ in tells] == [Ping(seq=0), Ping(seq=1)]


async def test_frames_that_arrive_in_pieces_are_put_together() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                reader = await client_handshake(stream, is_trickled=True)
                frames = [[0, "probe", "test.ping", seq] for seq in range(3)]
                frames.append([0, "probe", "test.blob", bytes(100_000)])
                frames.append([1, 0, "echo", "test.echo", 5])
                await trickle(stream, b"".join(frame(msgpack.packb(f)) for f in frames[:3]))
                await stream.send(b"".join(frame(msgpack.packb(f)) for f in frames[3:]))
                assert [await probe.receive() for _ in range(4)] == [
                    Ping(seq=0),
                    Ping(seq=1),
                    Ping(seq=2),
                    Blob(data=bytes(100_000)),
                ]
                assert await receive_frame(reader) == (2, 0, None, 5)


async def test_a_peer_beyond_the_bound_on_asks_in_flight_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="repertory.actors.transport")
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(StuckActor, name="stuck", shutdown_timeout=0.05)
            async with await anyio.connect_tcp("127.0.0.1", server_node.port) as stream:
                reader = await client_handshake(stream, max_asks=2)  # the server's is 1024
                asks = [[1, ask_id, "stuck", "test.echo", 1] for ask_id in range(3)]
                await stream.send(b"".join(frame(msgpack.packb(a)) for a in asks))
                await assert_disconnected(reader)
            await assert_good_client_is_served(server_node)
    assert "more than 2 asks in flight" in caplog.text


async def test_at_most_max_handshakes_peers_may_shake_hands_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="repertory.actors.transport")
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, handshake_timeout=60, max_handshakes=1) as server_node,
            await anyio.connect_tcp("127.0.0.1", server_node.port) as first,
        ):

            async def connect_another() -> None:  # while the first peer shakes hands
                async with await anyio.connect_tcp("127.0.0.1", server_node.port) as second:
                    await assert_disconnected(second)  # at once, long before the timeout

            reader = await client_handshake(first, before_proof=connect_another)
            assert "1 handshakes are in progress already" in caplog.text
            await first.send(frame(msgpack.packb([1, 0, "echo", "test.echo", 3])))
            assert await receive_frame(reader) == (2, 0, None, 3)
            # Once authenticated, the first peer no longer counts.
            await assert_good_client_is_served(server_node)


async def test_closing_drops_the_asks_still_queued_whose_askers_have_failed() -> None:
    with anyio.fail_after(20):
        async with (
            open_raw_server() as (port, accepted),
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
            anyio.create_task_group() as task_group,
        ):
            start_reading = anyio.Event()
            kinds: list[object] = []

            async def slow_peer() -> None:
                async with await accepted.receive() as stream:
                    reader = await server_handshake(stream)
                    await start_reading.wait()  # until then the client's buffers fill up
                    while True:
                        received = await receive_frame(reader)
                        assert isinstance(received, tuple)
                        kinds.append(received[0])
                        if received[0] == 4:  # goodbye
                            break
                    await stream.send(frame(msgpack.packb([4])))

            task_group.start_soon(slow_peer)
            connection = await node.connect("127.0.0.1", port)
            ref = connection.ref("echo")

            async def flood() -> None:
                while not connection.is_closed:
                    await ref.tell(Blob(data=bytes(65536)))

            async def ask() -> None:
                with pytest.raises(ConnectionLostError, match="was closed"):
                    await ref.ask(Echo(seq=1))

            task_group.start_soon(flood)
            await anyio.wait_all_tasks_blocked()  # the writer waits for the peer to read
            task_group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()  # its frame is queued behind the tells
            async with anyio.create_task_group() as closing:
                closing.start_soon(connection.aclose)
                await anyio.wait_all_tasks_blocked()
                start_reading.set()
            assert kinds[-1] == 4
            assert set(kinds) == {0, 4}  # the tells were sent, not the ask


class PiecesStream(ByteReceiveStream):
    """Returns the given pieces, one per `receive`, then ends."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = iter(pieces)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        for piece in self._pieces:
            return piece
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        pass


async def test_a_frame_that_arrives_in_small_pieces_is_put_together() -> None:
    # A header split in three, then 1 MiB in 64-byte pieces (this was quadratic once; how
    # long it takes is for a benchmark to say, not a test).
    pieces = [b"\x00", b"\x10\x00", b"\x00"]
    pieces += [bytes([i % 256]) * 64 for i in range(16384)]
    reader = FrameReader(PiecesStream(pieces), 2 << 20)
    (received,) = await reader.receive_frames()
    assert received == b"".join(pieces[3:])


async def test_a_peer_vanishing_fails_pending_asks_at_once() -> None:
    with anyio.fail_after(10):
        async with (
            open_raw_server() as (port, accepted),
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
            anyio.create_task_group() as task_group,
        ):

            async def vanishing_peer() -> None:
                async with await accepted.receive() as stream:
                    reader = await server_handshake(stream)
                    assert await receive_frame(reader) == (1, 0, "echo", "test.echo", 1)
                # closed without a goodbye

            task_group.start_soon(vanishing_peer)
            connection = await node.connect("127.0.0.1", port)
            with pytest.raises(ConnectionLostError, match=rf"127\.0\.0\.1:{port} was lost"):
                await connection.ref("echo").ask(Echo(seq=1))
            assert connection.is_closed
            with pytest.raises(ConnectionLostError):
                await connection.ref("echo").ask(Echo(seq=2))
            await connection.ref("echo").tell(Ping(seq=1))
            letter = system.dead_letters.records[-1]
            assert (letter.message, letter.reason) == (Ping(seq=1), "connection lost")


async def test_tells_stuck_in_the_outbox_become_dead_letters_when_the_connection_breaks() -> None:
    with anyio.fail_after(20):
        async with (
            open_raw_server() as (port, accepted),
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
            anyio.create_task_group() as task_group,
        ):
            abort = anyio.Event()

            async def deaf_peer() -> None:
                stream = await accepted.receive()
                await server_handshake(stream)
                await abort.wait()  # never reading, so the client's buffers fill up
                await anyio.aclose_forcefully(stream)

            task_group.start_soon(deaf_peer)
            connection = await node.connect("127.0.0.1", port)
            ref = connection.ref("sink")
            told = 0

            async def flood() -> None:
                nonlocal told
                while not connection.is_closed:
                    await ref.tell(Blob(data=bytes(65536)))
                    told += 1

            task_group.start_soon(flood)
            await anyio.wait_all_tasks_blocked()  # the flood waits for room in the outbox
            abort.set()
        lost = [d for d in system.dead_letters.records if d.reason == "connection lost"]
        assert 4 <= len(lost) <= told + 1  # at least the outbox's worth, and the one waiting
        assert {(d.recipient, type(d.message)) for d in lost} == {("sink", Blob)}


# TLS.


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def client_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    certificate_authority.configure_trust(context)
    return context


async def test_tls_connections_tell_and_ask(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, ssl_context=server_tls) as server_node,
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
        ):
            probe = await spawn_probe(server, name="probe")
            connection = await node.connect("127.0.0.1", server_node.port, ssl_context=client_tls)
            for seq in range(100):
                await connection.ref("probe").tell(Ping(seq=seq))
            assert await connection.ref("echo").ask(Echo(seq=3)) == 3
            assert [await probe.receive() for _ in range(100)] == [Ping(seq=s) for s in range(100)]
            await connection.aclose()


async def test_tls_fails_the_handshake_with_an_untrusted_certificate(
    server_tls: ssl.SSLContext,
) -> None:
    stranger = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    trustme.CA().configure_trust(stranger)
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, ssl_context=server_tls) as server_node,
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
        ):
            with pytest.raises(HandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
                await node.connect("127.0.0.1", server_node.port, ssl_context=stranger)


async def test_plain_and_tls_peers_do_not_mix(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, ssl_context=server_tls) as tls_node,
            open_test_system() as plain_server,
            open_server(plain_server) as plain_node,
            open_test_system() as system,
            open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
        ):
            with pytest.raises(HandshakeError):
                await node.connect("127.0.0.1", tls_node.port)
            with pytest.raises(HandshakeError):
                await node.connect("127.0.0.1", plain_node.port, ssl_context=client_tls)
            connection = await node.connect("127.0.0.1", tls_node.port, ssl_context=client_tls)
            assert await connection.ref("echo").ask(Echo(seq=1)) == 1
