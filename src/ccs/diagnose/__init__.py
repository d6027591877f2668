"""``ccs diagnose module:graph``: run an unmodified LangGraph graph on a recording store and
report, per key, who writes it and which updates were lost (``analysis``), as a terminal summary,
JSON or a self-contained HTML page (``html``). ``runner`` loads and runs the graph."""

from ccs.diagnose.analysis import Diagnosis, KeyReport, diagnose

__all__ = ["Diagnosis", "KeyReport", "diagnose"]
