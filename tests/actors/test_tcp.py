"""Remote refs over TCP on 127.0.0.1: tell, ask, errors and closing, on both backends."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory.actors import (
    Actor,
    ActorNotFoundError,
    ActorRef,
    ActorStoppedError,
    CodecError,
    ConnectionLostError,
    DeadLetter,
    MailboxFullError,
    RemoteActorError,
    Request,
    TransportError,
    UnhandledMessageError,
)
from repertory.actors.testing import open_test_system, spawn_probe
from repertory.actors.transport import (
    DEFAULT_MAX_FRAME_SIZE,
    Codec,
    Connection,
    Node,
    RemoteActorRef,
    open_node,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from repertory.actors import ActorSystem

SECRET = b"tcp-test-secret-of-32-bytes-long"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Blob:
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Echo(Request[int]):
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Explode(Request[None]):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Shun(Request[None]):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSet(Request[object]):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered(Request[None]):
    pass


CODEC = Codec(
    {
        "test.ping": Ping,
        "test.blob": Blob,
        "test.echo": Echo,
        "test.explode": Explode,
        "test.shun": Shun,
        "test.get_set": GetSet,
    }
)


class EchoActor(Actor):
    """Answers Echo with its seq; raises on Explode; does not handle Shun."""

    async def receive(self, message: object) -> object:
        match message:
            case Echo(seq=seq):
                return seq
            case Explode(text=text):
                raise ValueError(text)
            case GetSet():
                return {1, 2}
            case _:
                self.unhandled(message)


class StuckActor(Actor):
    """Starts handling a message and never finishes."""

    def __init__(self, started: anyio.Event) -> None:
        self._started = started

    async def receive(self, message: object) -> object:
        self._started.set()
        await anyio.sleep_forever()
        return None


@contextlib.asynccontextmanager
async def open_server(
    system: ActorSystem,
    *,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    max_asks_in_flight: int = 1024,
) -> AsyncIterator[Node]:
    async with open_node(
        system,
        codec=CODEC,
        secret=SECRET,
        max_frame_size=max_frame_size,
        max_asks_in_flight=max_asks_in_flight,
    ) as node:
        yield node


@contextlib.asynccontextmanager
async def open_client(
    server: Node, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, max_asks_in_flight: int = 1024
) -> AsyncIterator[tuple[ActorSystem, Connection]]:
    """Open a client system and node, and connect them to `server`."""
    async with (
        open_test_system() as system,
        open_node(
            system,
            codec=CODEC,
            secret=SECRET,
            port=None,
            max_frame_size=max_frame_size,
            max_asks_in_flight=max_asks_in_flight,
        ) as node,
    ):
        yield system, await node.connect("127.0.0.1", server.port)


async def test_tell_reaches_the_remote_actor() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("probe")
                assert isinstance(ref, ActorRef)
                assert isinstance(ref, RemoteActorRef)
                await ref.tell(Ping(seq=1))
                ref.tell_nowait(Ping(seq=2))
                await ref.tell(("any", b"value", [Ping(seq=3)]))
                assert await probe.receive() == Ping(seq=1)
                assert await probe.receive() == Ping(seq=2)
                assert await probe.receive() == ("any", b"value", (Ping(seq=3),))


async def test_ask_returns_the_remote_reply() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                answer: int = await connection.ref("echo").ask(Echo(seq=42))
                assert answer == 42


async def test_an_ask_may_be_answered_with_a_message() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await spawn_probe(server, name="probe", reply=lambda message: (message, Ping(seq=9)))
            async with open_client(server_node) as (_, connection):
                answer = await connection.ref("probe").ask(GetSet())
                assert answer == (GetSet(), Ping(seq=9))


async def test_tells_from_one_task_arrive_in_order() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("probe")
                messages = [Ping(seq=i) for i in range(2000)]
                for message in messages:
                    await ref.tell(message)
                assert [await probe.receive() for _ in messages] == messages


async def test_many_concurrent_asks_are_pipelined_and_answered() -> None:
    answers: dict[int, int] = {}
    with anyio.fail_after(20):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("echo")

                async def ask(seq: int) -> None:
                    answers[seq] = await ref.ask(Echo(seq=seq))

                async with anyio.create_task_group() as task_group:
                    for seq in range(1000):
                        task_group.start_soon(ask, seq)
    assert answers == {seq: seq for seq in range(1000)}


async def test_asks_beyond_the_in_flight_bound_wait_their_turn() -> None:
    answers: list[int] = []
    with anyio.fail_after(20):
        async with (
            open_test_system() as server,
            open_server(server, max_asks_in_flight=3) as server_node,
            open_test_system() as client,
            open_node(client, codec=CODEC, secret=SECRET, port=None, max_asks_in_flight=2) as node,
        ):
            await server.spawn(EchoActor, name="echo")
            ref = (await node.connect("127.0.0.1", server_node.port)).ref("echo")

            async def ask(seq: int) -> None:
                answers.append(await ref.ask(Echo(seq=seq)))

            async with anyio.create_task_group() as task_group:
                for seq in range(200):
                    task_group.start_soon(ask, seq)
    assert sorted(answers) == list(range(200))


async def test_a_slow_ask_does_not_hold_up_the_others() -> None:
    started = anyio.Event()
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(lambda: StuckActor(started), name="stuck", shutdown_timeout=0)
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection), anyio.create_task_group() as tg:
                tg.start_soon(connection.ref("stuck").ask, Echo(seq=1))
                await started.wait()
                assert await connection.ref("echo").ask(Echo(seq=2)) == 2
                tg.cancel_scope.cancel()


async def test_a_cancelled_ask_is_abandoned_and_its_late_reply_dropped() -> None:
    arrived = anyio.Event()
    release = anyio.Event()

    class Slow(Actor):
        async def receive(self, message: object) -> object:
            arrived.set()
            await release.wait()
            return -1

    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(Slow, name="slow")
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                with anyio.CancelScope() as scope:

                    async def cancel_when_arrived() -> None:
                        await arrived.wait()
                        scope.cancel()

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(cancel_when_arrived)
                        await connection.ref("slow").ask(Echo(seq=1))
                assert scope.cancelled_caught
                release.set()  # its reply now finds no asker
                assert await connection.ref("echo").ask(Echo(seq=2)) == 2
                assert await connection.ref("slow").ask(Echo(seq=3)) == -1


@pytest.mark.parametrize(
    ("server_bound", "client_bound"),
    [pytest.param(1, 1, id="same"), pytest.param(1, 8, id="client-larger"), (8, 1)],
)
async def test_a_cancelled_ask_keeps_its_place_until_its_answer_arrives(
    server_bound: int, client_bound: int
) -> None:
    # The server's handler asks the client back over the same connection, so the server's
    # reader must stay free to read that answer, however many asks the client sends.
    asked_back = anyio.Event()
    release = anyio.Event()

    class Answerer(Actor):  # on the client
        async def receive(self, message: object) -> object:
            asked_back.set()
            await release.wait()
            return 42

    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, max_asks_in_flight=server_bound) as server_node,
        ):

            class Relay(Actor):  # on the server
                async def receive(self, message: object) -> object:
                    match message:
                        case Echo(seq=0):
                            (inbound,) = server_node.connections
                            return await inbound.ref("answerer").ask(Echo(seq=0))
                        case Echo(seq=seq):
                            return seq
                    return None

            await server.spawn(Relay, name="relay")
            async with open_client(server_node, max_asks_in_flight=client_bound) as (
                client,
                connection,
            ):
                await client.spawn(Answerer, name="answerer")
                relay = connection.ref("relay")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(relay.ask, Echo(seq=0))
                    await asked_back.wait()
                    tg.cancel_scope.cancel()  # abandons the ask: it still has its place
                answers: list[int] = []
                async with anyio.create_task_group() as tg:

                    async def ask(seq: int) -> None:
                        answers.append(await relay.ask(Echo(seq=seq)))

                    for seq in range(1, 4):
                        tg.start_soon(ask, seq)
                    await anyio.wait_all_tasks_blocked()
                    assert answers == []  # no room until the abandoned ask is answered
                    release.set()
                assert sorted(answers) == [1, 2, 3]
                assert not connection.is_closed


async def test_a_handler_exception_arrives_as_remote_actor_error() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("echo")
                with pytest.raises(RemoteActorError, match="ValueError: boom") as caught:
                    await ref.ask(Explode(text="boom"))
                assert caught.value.type_name == "ValueError"
                assert caught.value.text == "boom"
                assert await ref.ask(Echo(seq=7)) == 7  # restarted by its supervisor


class VerboseError(Exception):
    pass


LongNamedError = type("Long" * 100 + "Error", (Exception,), {})


class LoudActor(Actor):
    """Fails asks with a long text or a long type name, or answers with a big reply."""

    async def receive(self, message: object) -> object:
        match message:
            case Echo(seq=0):
                raise VerboseError("x" * 10_000)
            case Echo(seq=1):
                raise LongNamedError("y" * 10_000)
            case Echo():
                return bytes(10_000)
        return None


@pytest.mark.parametrize("max_frame_size", [64, 200, 5000])
async def test_failures_are_cut_to_fit_the_frame_size_limit(max_frame_size: int) -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, max_frame_size=max_frame_size) as server_node,
        ):
            await server.spawn(LoudActor, name="loud")
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("loud")
                with pytest.raises(RemoteActorError) as caught:
                    await ref.ask(Echo(seq=0))
                assert caught.value.type_name == "VerboseError"
                assert 0 < len(caught.value.text) < max_frame_size
                assert set(caught.value.text) == {"x"}
                with pytest.raises(RemoteActorError) as caught:
                    await ref.ask(Echo(seq=1))
                assert caught.value.type_name.startswith("LongLong")
                assert len(caught.value.type_name) + len(caught.value.text) < max_frame_size
                with pytest.raises(RemoteActorError, match="CodecError") as caught:
                    await ref.ask(Echo(seq=2))  # its reply exceeds the limit
                assert len(str(caught.value)) < max_frame_size + 20
                assert not connection.is_closed
                assert await connection.ref("echo").ask(Echo(seq=5)) == 5


async def test_an_unknown_actor_name_is_echoed_cut() -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server) as server_node,
            open_client(server_node) as (_, connection),
        ):
            with pytest.raises(ActorNotFoundError) as caught:
                await connection.ref("n" * 100_000).ask(Echo(seq=1))
            assert caught.value.name == "n" * 256
            assert len(str(caught.value)) < 300


async def test_an_unhandled_request_arrives_as_unhandled_message_error() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                with pytest.raises(UnhandledMessageError, match="does not handle Shun") as caught:
                    await connection.ref("echo").ask(Shun())
                assert caught.value.name == "echo"


async def test_an_unencodable_reply_arrives_as_remote_actor_error() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("echo")
                with pytest.raises(RemoteActorError, match="CodecError"):
                    await ref.ask(GetSet())
                assert await ref.ask(Echo(seq=1)) == 1


async def test_an_unknown_actor_fails_asks_and_dead_letters_tells() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            watcher = await spawn_probe(server, name="watcher")
            server.dead_letters.subscribe(watcher.ref)
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("nobody")
                with pytest.raises(ActorNotFoundError, match="no actor named 'nobody'") as caught:
                    await ref.ask(Echo(seq=1))
                assert caught.value.name == "nobody"
                await ref.tell(Ping(seq=1))
                letter = await watcher.expect(DeadLetter)
                assert (letter.recipient, letter.message, letter.reason) == (
                    "nobody",
                    Ping(seq=1),
                    "not found",
                )


async def test_an_actor_stopping_mid_ask_arrives_as_actor_stopped_error() -> None:
    started = anyio.Event()
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            stuck = await server.spawn(
                lambda: StuckActor(started), name="stuck", shutdown_timeout=0
            )
            async with open_client(server_node) as (_, connection), anyio.create_task_group() as tg:

                async def ask() -> None:
                    with pytest.raises(ActorStoppedError, match="'stuck' has stopped"):
                        await connection.ref("stuck").ask(Echo(seq=1))

                tg.start_soon(ask)
                await started.wait()
                await server.stop(stuck)


async def test_both_ends_of_a_connection_serve_their_actors() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_client(server_node) as (client, connection):
                await client.spawn(EchoActor, name="client-echo")
                assert await connection.ref("echo").ask(Echo(seq=1)) == 1
                (inbound,) = server_node.connections
                assert await inbound.ref("client-echo").ask(Echo(seq=2)) == 2


async def test_unencodable_and_oversize_messages_raise_codec_error_in_the_sender() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node, max_frame_size=1024) as (_, connection):
                ref = connection.ref("probe")
                with pytest.raises(CodecError, match="type complex"):
                    await ref.tell(Echo(seq=1.5j))  # type: ignore[arg-type] # on purpose
                with pytest.raises(CodecError, match="not registered"):
                    await ref.ask(Unregistered())
                with pytest.raises(CodecError, match="exceeds the limit of 1024"):
                    await ref.tell(Blob(data=bytes(2000)))
                with pytest.raises(CodecError, match="exceeds the limit of 1024"):
                    ref.tell_nowait(Blob(data=bytes(2000)))
                await ref.tell(Ping(seq=1))  # the connection goes on
                assert await probe.receive() == Ping(seq=1)


async def test_each_node_sends_only_frames_its_peer_accepts() -> None:
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_server(server, max_frame_size=1024) as server_node,
        ):
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("probe")
                with pytest.raises(CodecError, match=r"exceeds the limit of 1024 \(the smaller"):
                    await ref.tell(Blob(data=bytes(2000)))
                await ref.tell(Blob(data=bytes(900)))
                assert await probe.receive() == Blob(data=bytes(900))
                (inbound,) = server_node.connections  # it served the tell: it exists
                with pytest.raises(CodecError, match="exceeds the limit of 1024"):
                    await inbound.ref("anyone").tell(Blob(data=bytes(2000)))


async def test_tell_nowait_raises_mailbox_full_when_the_outbox_is_full() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node) as (_, connection):
                ref = connection.ref("probe")
                sent = 0
                # The writer cannot run: this loop never yields.
                with contextlib.suppress(MailboxFullError):
                    while sent < 10_000:
                        ref.tell_nowait(Blob(data=bytes(1000)))
                        sent += 1
                with pytest.raises(MailboxFullError, match="'probe'"):
                    ref.tell_nowait(Blob(data=bytes(1000)))
                assert 200 < sent < 1000
                await ref.tell(Ping(seq=-1))  # waits for room
                for _ in range(sent):
                    await probe.expect(Blob)
                assert await probe.receive() == Ping(seq=-1)


async def test_closing_a_connection_sends_what_is_queued_then_fails_sends() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            probe = await spawn_probe(server, name="probe")
            async with open_client(server_node) as (client, connection):
                ref = connection.ref("probe")
                for seq in range(100):
                    ref.tell_nowait(Ping(seq=seq))
                await connection.aclose()
                assert connection.is_closed
                assert [await probe.receive() for _ in range(100)] == [
                    Ping(seq=seq) for seq in range(100)
                ]
                with pytest.raises(ConnectionLostError, match=r"127\.0\.0\.1:\d+ was closed"):
                    await ref.ask(Echo(seq=1))
                await ref.tell(Ping(seq=100))
                ref.tell_nowait(Ping(seq=101))
                letters = client.dead_letters.records[-2:]
                assert [(d.recipient, d.message, d.reason) for d in letters] == [
                    ("probe", Ping(seq=100), "connection lost"),
                    ("probe", Ping(seq=101), "connection lost"),
                ]


async def test_closing_the_server_node_fails_pending_asks() -> None:
    started = anyio.Event()
    with anyio.fail_after(10):
        async with (
            open_test_system() as server,
            open_test_system() as client,
            open_node(client, codec=CODEC, secret=SECRET, port=None) as node,
        ):
            await server.spawn(lambda: StuckActor(started), name="stuck", shutdown_timeout=0)
            failed = anyio.Event()
            async with anyio.create_task_group() as task_group:
                async with open_server(server) as server_node:
                    connection = await node.connect("127.0.0.1", server_node.port)

                    async def ask() -> None:
                        with pytest.raises(ConnectionLostError, match="closed by the peer"):
                            await connection.ref("stuck").ask(Echo(seq=1))
                        failed.set()

                    task_group.start_soon(ask)
                    await started.wait()
                await failed.wait()
            assert connection.is_closed
            await connection.aclose()  # returns once it has finished closing
            assert node.connections == ()
            with pytest.raises(ConnectionLostError):
                await connection.ref("stuck").ask(Echo(seq=2))


async def test_leaving_open_node_closes_its_connections() -> None:
    with anyio.fail_after(10):
        async with open_test_system() as server, open_server(server) as server_node:
            await server.spawn(EchoActor, name="echo")
            async with open_test_system() as client:
                async with open_node(client, codec=CODEC, secret=SECRET, port=None) as node:
                    connection = await node.connect("127.0.0.1", server_node.port)
                    assert await connection.ref("echo").ask(Echo(seq=1)) == 1
                    assert node.connections == (connection,)
                assert connection.is_closed
                with pytest.raises(TransportError, match="closed"):
                    await node.connect("127.0.0.1", server_node.port)


async def test_a_client_only_node_has_no_port() -> None:
    async with (
        open_test_system() as system,
        open_node(system, codec=CODEC, secret=SECRET, port=None) as node,
    ):
        assert not node.is_listening
        with pytest.raises(TransportError, match="does not listen"):
            _ = node.port


async def test_a_port_in_use_raises_os_error() -> None:
    async with (
        open_test_system() as system,
        open_node(system, codec=CODEC, secret=SECRET) as node,
    ):
        with pytest.raises(OSError, match="in use"):
            async with open_node(system, codec=CODEC, secret=SECRET, port=node.port):
                pass


async def test_bad_node_settings_are_refused() -> None:
    async with open_test_system() as system:
        for secret in (b"", b"s" * 15, "s" * 32):
            with pytest.raises(ValueError, match="secret must be bytes, at least 16"):
                async with open_node(system, codec=CODEC, secret=secret):  # type: ignore[arg-type]
                    pass
        async with open_node(system, codec=CODEC, secret=b"s" * 16, port=None):
            pass
        for max_asks_in_flight in (0, 2**32):
            with pytest.raises(ValueError, match="max_asks_in_flight"):
                async with open_node(
                    system, codec=CODEC, secret=SECRET, max_asks_in_flight=max_asks_in_flight
                ):
                    pass
        with pytest.raises(ValueError, match="max_handshakes"):
            async with open_node(system, codec=CODEC, secret=SECRET, max_handshakes=0):
                pass
