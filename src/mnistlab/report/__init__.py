"""The self-contained HTML report: every dataset side by side, one section per analysis."""

from mnistlab.report.builder import build_report
from mnistlab.report.sections import SECTIONS, Panel, Picture, Section, Table, section

__all__ = ["SECTIONS", "Panel", "Picture", "Section", "Table", "build_report", "section"]
