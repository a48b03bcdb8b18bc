"""``python -m polyseek`` runs the CLI."""

from polyseek.cli import main

main()
