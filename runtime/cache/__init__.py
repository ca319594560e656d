"""Result caching: cache policies and keys, cache managers with single flight, result
storage, and the cached path of a task.
"""

from __future__ import annotations
