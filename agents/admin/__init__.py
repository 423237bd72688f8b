"""The agents' pages in the admin: an agent (what callers hear first, the rest folded), its
statistics, publishing, a voice's sample, and its versions."""

from agents.admin.agent import AgentAdmin
from agents.admin.inlines import MAX_NOTES, MAX_TOOLS
from agents.admin.revisions import AgentRevisionAdmin

__all__ = ["MAX_NOTES", "MAX_TOOLS", "AgentAdmin", "AgentRevisionAdmin"]
