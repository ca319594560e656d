"""Tenancy: workspaces, API keys and roles, and the audit log with its keys and chains."""

from __future__ import annotations
