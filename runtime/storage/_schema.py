"""The database schema as numbered, forward-only migrations, for SQLite and PostgreSQL.

Times are stored as microseconds since the Unix epoch (BIGINT), cheap to write and to
compare on both databases; JSON is stored as text.
"""

from __future__ import annotations

from typing import Final

# (version, statements); `{serial}` is the dialect's auto-increment primary key.
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (
        1,
        (
            """CREATE TABLE flow_runs (
                id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                flow_name TEXT NOT NULL,
                flow_version TEXT,
                name TEXT NOT NULL,
                parameters TEXT NOT NULL,
                state_type TEXT NOT NULL,
                state_name TEXT NOT NULL,
                state_message TEXT,
                state_timestamp BIGINT NOT NULL,
                run_count INTEGER NOT NULL,
                start_time BIGINT,
                end_time BIGINT,
                parent_flow_run_id TEXT,
                parent_task_run_id TEXT,
                owner TEXT,
                created BIGINT NOT NULL
            )""",
            "CREATE INDEX flow_runs_by_workspace ON flow_runs (workspace, created)",
            "CREATE INDEX flow_runs_by_owner ON flow_runs (owner, state_type)",
            """CREATE TABLE task_runs (
                id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                flow_run_id TEXT NOT NULL,
                task_name TEXT NOT NULL,
                name TEXT NOT NULL,
                parameters TEXT NOT NULL,
                tags TEXT NOT NULL,
                state_type TEXT NOT NULL,
                state_name TEXT NOT NULL,
                state_message TEXT,
                state_timestamp BIGINT NOT NULL,
                run_count INTEGER NOT NULL,
                start_time BIGINT,
                end_time BIGINT,
                created BIGINT NOT NULL
            )""",
            "CREATE INDEX task_runs_by_flow_run ON task_runs (workspace, flow_run_id, created)",
            """CREATE TABLE states (
                seq {serial},
                workspace TEXT NOT NULL,
                run_id TEXT NOT NULL,
                type TEXT NOT NULL,
                name TEXT NOT NULL,
                message TEXT,
                timestamp BIGINT NOT NULL
            )""",
            "CREATE INDEX states_by_run ON states (workspace, run_id, seq)",
            """CREATE TABLE logs (
                seq {serial},
                workspace TEXT NOT NULL,
                flow_run_id TEXT NOT NULL,
                task_run_id TEXT,
                level INTEGER NOT NULL,
                logger TEXT NOT NULL,
                message TEXT NOT NULL,
                timestamp BIGINT NOT NULL
            )""",
            "CREATE INDEX logs_by_flow_run ON logs (workspace, flow_run_id, seq)",
            """CREATE TABLE owners (
                id TEXT PRIMARY KEY,
                started BIGINT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL
            )""",
        ),
    ),
    (
        2,
        (
            # API keys of the gateway: the hash of each secret, never the secret.
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created BIGINT NOT NULL,
                expires BIGINT,
                revoked BIGINT
            )""",
            "CREATE INDEX api_keys_by_workspace ON api_keys (workspace, created)",
        ),
    ),
    (
        3,
        (
            # Who holds each idempotency key of run creation, and for which request.
            """CREATE TABLE idempotency_keys (
                workspace TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                flow_run_id TEXT NOT NULL,
                created BIGINT NOT NULL,
                PRIMARY KEY (workspace, key)
            )""",
        ),
    ),
    (
        4,
        (
            # The cache index: one entry per key and workspace, and where its result lies.
            """CREATE TABLE cache_entries (
                workspace TEXT NOT NULL,
                key TEXT NOT NULL,
                task_name TEXT NOT NULL,
                created BIGINT NOT NULL,
                expires BIGINT,
                size BIGINT NOT NULL,
                storage TEXT NOT NULL,
                location TEXT NOT NULL,
                task_run_id TEXT NOT NULL,
                PRIMARY KEY (workspace, key)
            )""",
            "CREATE INDEX cache_entries_by_task ON cache_entries (workspace, task_name, created)",
            "CREATE INDEX cache_entries_by_expiry ON cache_entries (workspace, expires)",
            # Results kept in the database (result_storage="database").
            """CREATE TABLE cache_results (
                location TEXT PRIMARY KEY,
                data {blob} NOT NULL
            )""",
            # Which cache entry holds each cached task run's result (computed or a hit).
            """CREATE TABLE task_run_results (
                task_run_id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                cache_key TEXT NOT NULL
            )""",
        ),
    ),
    (
        5,
        (
            # The audit log: one hash chain per workspace; rows are only ever inserted.
            """CREATE TABLE audit_log (
                chain TEXT NOT NULL,
                seq BIGINT NOT NULL,
                at BIGINT NOT NULL,
                key_id TEXT,
                key_name TEXT,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER NOT NULL,
                request_id TEXT NOT NULL,
                client TEXT NOT NULL,
                previous_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                PRIMARY KEY (chain, seq)
            )""",
            "CREATE INDEX audit_log_by_time ON audit_log (chain, at)",
        ),
    ),
    (
        6,
        (
            # Workspaces as objects a server admin manages, and which keys are server admins.
            """CREATE TABLE workspaces (
                name TEXT PRIMARY KEY,
                created BIGINT NOT NULL
            )""",
            "ALTER TABLE api_keys ADD COLUMN server_admin INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    (
        7,
        (
            # Custom roles of a workspace: sets of scopes (JSON), beside the built-in ones.
            """CREATE TABLE roles (
                workspace TEXT NOT NULL,
                name TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created BIGINT NOT NULL,
                PRIMARY KEY (workspace, name)
            )""",
        ),
    ),
    (
        8,
        (
            # Refused calls of one address summed up in one record, and which key signed a
            # record's hash (none: a plain SHA-256, from before keys).
            "ALTER TABLE audit_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE audit_log ADD COLUMN signer TEXT",
        ),
    ),
    (
        9,
        (
            # Listings filter by these and page by (created, id) or seq: never a scan.
            "CREATE INDEX flow_runs_by_flow ON flow_runs (workspace, flow_name, created, id)",
            "CREATE INDEX flow_runs_by_state ON flow_runs (workspace, state_type, created, id)",
            "CREATE INDEX flow_runs_by_parent ON flow_runs (workspace, parent_flow_run_id)",
            "CREATE INDEX flow_runs_by_created ON flow_runs (workspace, created, id)",
            "CREATE INDEX audit_log_by_action ON audit_log (chain, action, seq)",
            "CREATE INDEX audit_log_by_key ON audit_log (chain, key_id, seq)",
        ),
    ),
    (
        10,
        (
            # A Failed or Crashed state's exception, as Python prints it (State.traceback).
            "ALTER TABLE states ADD COLUMN traceback TEXT",
        ),
    ),
)

LATEST_VERSION: Final = MIGRATIONS[-1][0]

BLOB: Final = {"sqlite": "BLOB", "postgresql": "BYTEA"}

SERIAL: Final = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}
