"""Agent adapters: how middle launches, prompts and reads each agent CLI."""

from middle.agents.adapters import ADAPTERS, get_adapter
from middle.agents.base import AgentAdapter, Stop, classify_stop, consume_sentinels

__all__ = ["ADAPTERS", "AgentAdapter", "Stop", "classify_stop", "consume_sentinels", "get_adapter"]
