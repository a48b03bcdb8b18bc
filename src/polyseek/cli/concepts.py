"""``polyseek concept``: add, edit, remove, list, export and import personal concepts ("my dog Rex")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, StoreOption, make_engine, print_json

console = Console(stderr=True)
concept_app = typer.Typer(help="Personal concepts: named things (a pet, a person, a place) that queries and answers can use.",
                          no_args_is_help=True)


def parse_attrs(values: list[str]) -> dict[str, str]:
    from polyseek.errors import InvalidInputError

    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--attr takes key=value, got {value!r}", hint="e.g. --attr breed='golden retriever'")
        out[key.strip()] = rest.strip()
    return out


def show(concept, as_json: bool) -> None:
    if as_json:
        print_json(concept.to_dict())
        return
    out = Console(highlight=False)
    out.print(f"[bold]{concept.name}[/bold]" + (f": {concept.description}" if concept.description else ""))
    for key, value in concept.attributes.items():
        out.print(f"  {key} = {value}")
    for path in concept.images:
        out.print(f"  image {path}")


@concept_app.command("add")
def add(
    name: str = typer.Argument(..., help="The concept's name as you would say it in a query, e.g. Rex."),
    description: str = typer.Option("", "--description", "-d", help="What it is, e.g. 'my golden retriever'."),
    attr: list[str] = typer.Option([], "--attr", "-a", help="A fact as key=value (repeatable)."),
    image: list[Path] = typer.Option([], "--image", "-i", help="A reference image (repeatable)."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a concept; its reference images are embedded now, so searches use it at once."""
    engine = make_engine(store, image_encoder)
    try:
        show(engine.concepts.add(name, description, parse_attrs(attr), [str(p) for p in image]), as_json)
    finally:
        engine.close()


@concept_app.command("edit")
def edit(
    name: str = typer.Argument(...),
    description: Optional[str] = typer.Option(None, "--description", "-d", help="New description."),
    attr: list[str] = typer.Option([], "--attr", "-a", help="Set a fact key=value (repeatable); key= removes it."),
    image: list[Path] = typer.Option([], "--image", "-i", help="Replace the reference images with these (repeatable)."),
    add_image: list[Path] = typer.Option([], "--add-image", help="Add a reference image (repeatable)."),
    clear_images: bool = typer.Option(False, "--clear-images", help="Remove every reference image."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change a concept; the next query sees the change (no re-indexing)."""
    engine = make_engine(store, image_encoder)
    try:
        current = engine.concepts.get(name)
        attributes = None
        if attr:
            attributes = dict(current.attributes)
            for key, value in parse_attrs(attr).items():
                if value:
                    attributes[key] = value
                else:
                    attributes.pop(key, None)
        images = None
        if clear_images or image or add_image:
            images = [] if clear_images else ([str(p) for p in image] if image else list(current.images))
            images += [str(p) for p in add_image]
        show(engine.concepts.update(current.name, description=description, attributes=attributes, images=images), as_json)
    finally:
        engine.close()


@concept_app.command("remove")
def remove(name: str = typer.Argument(...), store: Optional[str] = StoreOption) -> None:
    """Forget a concept."""
    engine = make_engine(store, read_only=True)
    try:
        engine.concepts.remove(name)
        console.print(f"removed concept {name}", highlight=False)
    finally:
        engine.close()


@concept_app.command("list")
def list_(store: Optional[str] = StoreOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """List concepts."""
    engine = make_engine(store, read_only=True)
    try:
        concepts = engine.concepts.list()
        if as_json:
            print_json({"concepts": [c.to_dict() for c in concepts]})
            return
        if not concepts:
            Console().print("no concepts yet: polyseek concept add NAME --description ... --image FILE")
        for concept in concepts:
            show(concept, False)
    finally:
        engine.close()


@concept_app.command("show")
def show_one(name: str = typer.Argument(...), store: Optional[str] = StoreOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one concept."""
    engine = make_engine(store, read_only=True)
    try:
        show(engine.concepts.get(name), as_json)
    finally:
        engine.close()


@concept_app.command("export")
def export(file: Path = typer.Argument(..., help="JSON file to write ('-' for stdout)."), store: Optional[str] = StoreOption) -> None:
    """Write every concept (with its reference embeddings) to a JSON file."""
    engine = make_engine(store, read_only=True)
    try:
        data = {"concepts": engine.concepts.export()}
    finally:
        engine.close()
    if str(file) == "-":
        print_json(data)
        return
    file.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"exported {len(data['concepts'])} concepts to {file}", highlight=False)


@concept_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="JSON file written by 'polyseek concept export' (or a list of concepts)."),
    replace: bool = typer.Option(False, "--replace", help="Remove concepts that are not in the file."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
) -> None:
    """Add or overwrite concepts from a JSON file; nothing changes unless all of them are valid."""
    from polyseek.errors import InvalidInputError

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"file not found: {file}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{file} is not a JSON file: {exc}") from None
    items = data.get("concepts") if isinstance(data, dict) else data
    engine = make_engine(store, image_encoder)
    try:
        count = engine.concepts.import_(items, replace=replace)
        console.print(f"imported {count} concepts", highlight=False)
    finally:
        engine.close()


def register(app: typer.Typer) -> None:
    app.add_typer(concept_app, name="concept")
