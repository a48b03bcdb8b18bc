"""The fast path's option table (cli/remote.py) and the `search` command's declared options cannot drift apart."""

from __future__ import annotations

import typer

from polyseek.cli.app import app
from polyseek.cli.remote import FLAGS, VALUE_OPTIONS, parse_plain_search


def search_options() -> dict[str, bool]:
    """Every option string of `polyseek search`, mapped to whether it is a flag (takes no value)."""
    command = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    names: dict[str, bool] = {}
    for param in command.params:
        for name in [*param.opts, *getattr(param, "secondary_opts", [])]:
            names[name] = bool(getattr(param, "is_flag", False))
    return names


def test_every_fast_path_option_is_a_search_option_of_the_same_kind():
    declared = search_options()
    for name in VALUE_OPTIONS:
        assert name in declared, f"{name} is parsed by the fast path but not declared by `polyseek search`"
        assert not declared[name], f"{name} takes a value in the fast path but is a flag of `polyseek search`"
    for name in FLAGS:
        assert name in declared, f"{name} is parsed by the fast path but not declared by `polyseek search`"
        assert declared[name], f"{name} is a flag in the fast path but takes a value in `polyseek search`"


def test_an_option_the_fast_path_does_not_know_goes_to_the_full_cli():
    declared = search_options()
    unknown = [name for name in declared if name.startswith("-") and name not in VALUE_OPTIONS and name not in FLAGS]
    assert unknown, "the search command has options the fast path leaves to the full CLI (--image, --help, ...)"
    for name in unknown:
        assert parse_plain_search(["dog", name, "x"]) is None, name
