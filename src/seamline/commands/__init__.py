"""Command groups that plug into the `seamline` CLI (each module exposes a Typer app or a `register`)."""
