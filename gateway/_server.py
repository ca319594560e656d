"""The server: a runtime, the REST app over it, and uvicorn, in one process.

Flows that the server can run are found by scanning a module's attributes (no registry):
`--flows my_package.flows` or `--flows path/to/flows.py`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

import anyio
import uvicorn

from repertory.runtime import DEFAULT_MAX_LIVE_RUNS, FlowOptions, Runtime, repertory_home

from ._app import DEFAULT_LIMITS, create_app
from ._checkpoints import CHECKPOINT_SECONDS, CHECKPOINTS_FILE, keep_checkpoints
from ._connections import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    ConnectionLimits,
    guarded_http_protocol,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from repertory.runtime import FlowDefinition

    from ._limits import Limits

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4200
BOOTSTRAP_WORKSPACE: Final = "default"
#: How long requests in flight (long polls, say) may take to finish when the server stops.
GRACEFUL_SHUTDOWN_SECONDS: Final = 10


class FlowsNotFoundError(Exception):
    """The `--flows` module or file cannot be imported, or holds no flow."""


def load_flows(spec: str) -> list[FlowDefinition]:
    """The flows among the attributes of a module (`pkg.mod`) or a Python file (`path.py`).

    As `python path.py` and `python -m pkg.mod` would, a file's directory (for a module, the
    working directory) goes on the import path first, so that it may import its neighbours.

    Raises:
        FlowsNotFoundError: nothing to import there, it failed to import, or it has no flow.
    """
    try:
        if spec.endswith(".py") or "/" in spec:
            path = Path(spec).resolve()
            # A name of its own: a file called json.py must not stand in for the real one.
            name = f"repertory_flows_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None or not path.is_file():
                raise FlowsNotFoundError(f"no Python file at {spec}")
            _importable(str(path.parent))
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # for dataclasses and pickling in it
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            _importable(str(Path.cwd()))
            module = importlib.import_module(spec)
    except FlowsNotFoundError:
        raise
    except Exception as exc:
        raise FlowsNotFoundError(f"cannot import {spec}: {type(exc).__name__}: {exc}") from exc
    flows = [
        value
        for value in vars(module).values()
        if isinstance(getattr(value, "options", None), FlowOptions) and callable(value)
    ]
    if not flows:
        raise FlowsNotFoundError(f"{spec} holds no @flow")
    return flows


def _importable(directory: str) -> None:
    if directory not in sys.path:
        sys.path.insert(0, directory)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStarted:
    """What a starting server tells whoever started it."""

    url: str
    database_url: str
    flows: tuple[str, ...]
    #: The workspace's first owner key, on the first start only (shown this once).
    bootstrap_key: str | None


async def serve(
    *,
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    flows: list[FlowDefinition] | None = None,
    max_live_runs: int = DEFAULT_MAX_LIVE_RUNS,
    max_live_runs_per_workspace: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    audit_checkpoints: Path | None = None,
    audit_checkpoint_seconds: float = CHECKPOINT_SECONDS,
    console: int | str | bool = True,
    on_started: Callable[[ServerStarted], None] = lambda started: None,
) -> None:
    """Run the server until SIGINT or SIGTERM (blocks; asyncio only, as uvicorn is).

    The socket listens before `on_started` is called, so a client may connect at once. On the
    first start of a database, the `default` workspace and an owner key of it, which is also a
    server admin key (it manages workspaces), are made and the key passed to `on_started`,
    once. `max_live_runs` bounds the runs in progress (see `Runtime`): past it,
    a create waits for a run to end; past `max_live_runs_per_workspace` in one workspace, a
    create is refused (429). `limits` bound requests per key and failed authentications.

    A connection is closed when it has not sent a request's headers `header_timeout` seconds
    after it opened or after that request's first byte, its body `body_timeout` seconds after
    the headers, or its next request `idle_timeout` seconds after an answer. Past
    `max_connections` open connections (fewer if `ulimit -n` is lower), a new one is answered
    503 and closed.

    Every `audit_checkpoint_seconds`, and as it stops, the server appends a signed checkpoint
    of each audit chain that grew to `audit_checkpoints` (by default
    `$REPERTORY_HOME/audit-checkpoints.jsonl`) and to its log. `console` is the runtime's
    (see `Runtime`): its runs' log lines on stderr.

    Raises:
        OSError: the address cannot be listened on.
        ValueError: `max_connections` is below 1.
    """
    served = list(flows or [])
    http_protocol = guarded_http_protocol(
        ConnectionLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            idle_timeout=idle_timeout,
            max_connections=max_connections,
        )
    )
    listener = _listen(host, port)
    stop = _Stop()
    try:
        # Signals are watched from before the runtime starts until after it has stopped: a
        # SIGTERM at any moment ends the process only once the runtime is shut down.
        async with anyio.create_task_group() as watching:
            if threading.current_thread() is threading.main_thread():
                watching.start_soon(_watch_signals, stop)
            error: Exception | None = None
            try:
                async with Runtime(
                    database_url,
                    workspace=BOOTSTRAP_WORKSPACE,
                    max_live_runs=max_live_runs,
                    max_live_runs_per_workspace=max_live_runs_per_workspace,
                    console=console,
                ) as runtime:
                    bootstrap_key = None
                    if BOOTSTRAP_WORKSPACE not in {w.name for w in await runtime.read_workspaces()}:
                        await runtime.create_workspace(BOOTSTRAP_WORKSPACE)
                    if not await runtime.read_api_keys():
                        _, bootstrap_key = await runtime.create_api_key(
                            "bootstrap owner", role="owner", server_admin=True
                        )
                    address = listener.getsockname()
                    config = uvicorn.Config(
                        create_app(runtime, flows=served, limits=limits),
                        http=http_protocol,
                        ws="none",  # no WebSocket route: an upgrade is served as plain HTTP
                        # uvicorn types it int, but only hands it to loop.call_later.
                        timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]
                        lifespan="off",
                        # uvicorn listens again on the socket with its own (2048): under a
                        # burst of connections, a full queue drops them for a second or more.
                        backlog=socket.SOMAXCONN,
                        log_level="warning",
                        access_log=False,
                        server_header=False,
                        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                    )
                    stop.server = server = _Server(config)
                    on_started(
                        ServerStarted(
                            url=f"http://{_host_for_url(address[0])}:{address[1]}",
                            database_url=runtime.database_url,
                            flows=tuple(flow.options.name for flow in served),
                            bootstrap_key=bootstrap_key,
                        )
                    )
                    if not stop.is_requested:  # a signal while starting: stop at once
                        async with anyio.create_task_group() as serving:
                            serving.start_soon(
                                functools.partial(
                                    keep_checkpoints,
                                    runtime,
                                    audit_checkpoints or repertory_home() / CHECKPOINTS_FILE,
                                    every=audit_checkpoint_seconds,
                                )
                            )
                            await server.serve(sockets=[listener])
                            serving.cancel_scope.cancel()  # the last checkpoints, then out
            except Exception as exc:
                error = exc  # raised below: the task group would wrap it in a group
            finally:
                watching.cancel_scope.cancel()
        if error is not None:
            raise error
    finally:
        listener.close()


@final
class _Stop:
    """What a SIGINT or SIGTERM stops: the server once it runs, or the start before that."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.is_requested = False


async def _watch_signals(stop: _Stop) -> None:
    """The first SIGINT or SIGTERM stops the server gracefully; a second one, at once. The
    process is not killed: the runtime stops first, whatever the moment."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop.is_requested = True
            server = stop.server
            if server is not None:
                if server.should_exit:
                    server.force_exit = True
                server.should_exit = True


class _Server(uvicorn.Server):
    """uvicorn's server, minus its own signal handling.

    uvicorn re-raises a SIGINT or SIGTERM once it has shut down, which would kill the process
    before the runtime stops (its runs' last states unwritten, its liveness token kept until
    the kernel drops it); `_watch_signals` asks it to stop instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose `proto` is IPPROTO_TCP.

    asyncio sets TCP_NODELAY only on sockets that say they are TCP, and an accepted socket
    inherits its listener's `proto`: from `socket.create_server` (proto 0), every answer on a
    kept-alive connection waited ~40 ms for Nagle's algorithm and the peer's delayed ACK.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(socket.SOMAXCONN)
    except BaseException:
        listener.close()
        raise
    return listener


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
