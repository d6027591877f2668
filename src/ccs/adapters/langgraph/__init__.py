"""LangGraph drop-in: ``from ccs.adapters import CCSStore; store = CCSStore(strategy="lazy")``.

Modules: ``store`` (the ``BaseStore``), ``ops`` (each operation), ``identity`` (which agent is
calling), ``views`` (what each caller has read), ``ids`` (artifact ids), ``docs`` (item documents),
``query`` (filters, vector ranking, namespace listing), ``inner`` (wrapping an existing store),
``bridge`` (the agent calls the store needs), ``recorder`` (``record_to``), ``merging``
(``merge=``, and ``conflict_tool_error`` for ``ToolNode``).
"""

from ccs.adapters.langgraph.merging import conflict_tool_error
from ccs.adapters.langgraph.recorder import read_log
from ccs.adapters.langgraph.store import AgentStore, CCSStore

__all__ = ["AgentStore", "CCSStore", "conflict_tool_error", "read_log"]
