"""`get_run_logger()`: a logger whose lines are stored with the current run."""

from __future__ import annotations

import logging

from repertory.runtime import RunLogger, UsageError
from repertory.runtime.lowlevel import current_run


def get_run_logger() -> RunLogger:
    """A logger for the current flow or task run; INFO and above are stored with the run.

    Raises:
        UsageError: called outside a flow run.
    """
    context = current_run.get()
    if context is None:
        raise UsageError("get_run_logger() called outside a flow run")
    if context.task_run is not None:
        name = f"task_runs.{context.task_run.base.task_name}"
    else:
        name = f"flow_runs.{context.flow_run.base.flow_name}"
    return RunLogger(logging.getLogger(f"repertory.{name}"), context)
