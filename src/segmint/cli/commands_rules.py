"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
