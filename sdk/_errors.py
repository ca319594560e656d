"""Errors of the SDK, one root for the package.

SdkError
└── UsageError (TypeError)   the SDK was called in a way it does not support
"""

from __future__ import annotations


class SdkError(Exception):
    """Root of every error the SDK itself raises."""


class UsageError(SdkError, TypeError):
    """Raised when the SDK is called in a way it does not support; the message says how."""
