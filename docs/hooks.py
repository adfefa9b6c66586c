"""MkDocs hook: the CLI reference shows the examples of typer's help text as code.

``mnistlab --help`` marks examples as rich markup (``[bold]...[/]``, split at each colon by
``mnistlab.cli``); Markdown would read the brackets as links, so they become backticks here,
in the command object this build renders, before mkdocs-click reads it.
"""

from __future__ import annotations

import re

_BOLD = re.compile(r"\[bold\](.*?)\[/\]")


def on_config(config, **kwargs):
    from mnistlab.cli import click_command

    for command in click_command.commands.values():
        if command.help:
            command.help = _BOLD.sub(r"`\1`", command.help.replace("[/][bold]", ""))
    return config
