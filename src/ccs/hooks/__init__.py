"""Hooks for coding assistants: several Claude Code sessions on one repository, each edit checked
against the version of the file that session read (see docs/claude-code.md)."""

from ccs.hooks.claude_code import handle
from ccs.hooks.sessions import Check, SessionViews

__all__ = ["Check", "SessionViews", "handle"]
