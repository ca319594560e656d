"""The engine: how flows and tasks run (attempts, live runs, submitted runs and their
futures, turns on the event loop, run context, parameters, printed output), and the flow-run
actor.
"""

from __future__ import annotations
