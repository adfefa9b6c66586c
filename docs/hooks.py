"""MkDocs hooks.

- The CLI reference shows the examples of typer's help text as code: ``mnistlab --help`` marks
  them as rich markup (``[bold]...[/]``, split at each colon by ``mnistlab.cli``); Markdown would
  read the brackets as links, so they become backticks here, in the command object this build
  renders, before mkdocs-click reads it.
- The docstrings' Sphinx roles (``:func:`~mnistlab.stats.centroids```), which Python's help()
  and IDEs show as they are, would appear on the API pages as ``:func:centroids``: they become
  plain code, the ``~`` form shortened to its last name as Sphinx shows it.
"""

from __future__ import annotations

import re

_BOLD = re.compile(r"\[bold\](.*?)\[/\]")
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc):<code>(~?)([^<]*)</code>")


def on_config(config, **kwargs):
    from mnistlab.cli import click_command

    for command in click_command.commands.values():
        if command.help:
            command.help = _BOLD.sub(r"`\1`", command.help.replace("[/][bold]", ""))
    return config


def _role(match: re.Match) -> str:
    name = match[2].rsplit(".", 1)[-1] if match[1] else match[2]
    return f"<code>{name}</code>"


def on_page_content(html, **kwargs):
    return _ROLE.sub(_role, html)
