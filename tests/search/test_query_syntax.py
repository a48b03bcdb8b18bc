"""rclip-style query syntax: composed only where it parses as such, ordinary text searched as typed."""

from __future__ import annotations

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.search.query_syntax import join_arguments, parse_query_syntax


@pytest.fixture
def pool(tmp_path):
    image = tmp_path / "pool.jpg"
    Image.new("RGB", (8, 8)).save(image)
    return image


def test_terms_weights_and_images(pool):
    parsed = parse_query_syntax(f'"2:golden retriever" + {pool} - "fruit"')
    assert parsed == [(2.0, "text", "golden retriever"), (1.0, "image", str(pool)), (-1.0, "text", "fruit")]


def test_weight_outside_the_quotes_and_unquoted_terms_beside_an_image(pool):
    assert parse_query_syntax('0.5:"red car" - "blue"') == [(0.5, "text", "red car"), (-1.0, "text", "blue")]
    assert parse_query_syntax(f"2:golden retriever + {pool} - fruit") == [
        (2.0, "text", "golden retriever"), (1.0, "image", str(pool)), (-1.0, "text", "fruit")]
    assert parse_query_syntax(f"0.5:{pool}") == [(0.5, "image", str(pool))]


def test_an_existing_image_named_without_a_folder_is_an_image(pool, monkeypatch):
    monkeypatch.chdir(pool.parent)
    assert parse_query_syntax("pool.jpg") == [(1.0, "image", "pool.jpg")]
    assert parse_query_syntax("holiday.jpg") == [(1.0, "text", "holiday.jpg")]  # no such file: words


@pytest.mark.parametrize("text", [
    "a dog running on grass",
    "a dog's toy",  # shlex: "No closing quotation"
    "the dogs' toys",
    "rock 'n' roll",
    "2:30 pm meeting",  # a time, not a weight
    "covid-19 - 2020",  # no quoted or path term: not a subtraction
    "cats + dogs",
    "cats - dogs",
    '"unclosed quote',
    "'80s music",
    'he said "hi there',
    "+ leading plus",
    '"red car" +',  # an operator with nothing after it
    '- "fruit"',
    '"" + ""',
    "C++ templates",
    "x - y - z",
    "5 - 3 = 2",
    "state-of-the-art",
    "e-mail - spam",
])
def test_ordinary_text_is_searched_as_typed(text):
    assert parse_query_syntax(text) == [(1.0, "text", " ".join(text.split()))]


def test_quoted_phrases_compose_and_stay_apostrophe_safe():
    assert parse_query_syntax('"a dog\'s toy" - "cat"') == [(1.0, "text", "a dog's toy"), (-1.0, "text", "cat")]
    assert parse_query_syntax("'red car' + 'night'") == [(1.0, "text", "red car"), (1.0, "text", "night")]
    assert parse_query_syntax('"golden retriever"') == [(1.0, "text", "golden retriever")]
    assert parse_query_syntax('"2:30 pm" - "rain"') == [(1.0, "text", "2:30 pm"), (-1.0, "text", "rain")]


@pytest.mark.parametrize("bad, message", [
    ("", "empty query"),
    ("   \n\t", "empty query"),
    ("./missing.jpg", "image file not found"),
    ('"cat" + ./missing.jpg', "image file not found"),
    ("x" * 10_001, "at most 10,000"),
])
def test_refusals_are_polyseek_errors(bad, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_query_syntax(bad)


def test_a_caller_decides_which_files_may_be_images(pool):
    """A server admits only files inside its roots: others are never probed, so nothing leaks whether they exist."""
    never = parse_query_syntax(f"{pool.name}", is_image_file=lambda path: False)
    assert never == [(1.0, "text", pool.name)]
    with pytest.raises(InvalidInputError, match="image file not found"):
        parse_query_syntax(str(pool), is_image_file=lambda path: False)


def test_join_arguments_keeps_what_the_shell_quoted():
    assert join_arguments(["red car", "-", "blue"]) == '"red car" - blue'
    assert parse_query_syntax(join_arguments(["red car", "-", "blue"])) == [(1.0, "text", "red car"), (-1.0, "text", "blue")]
    assert join_arguments(["a", "dog's", "toy"]) == "a dog's toy"
    assert join_arguments(["covid-19", "-", "2020"]) == "covid-19 - 2020"
    assert parse_query_syntax(join_arguments(["covid-19", "-", "2020"])) == [(1.0, "text", "covid-19 - 2020")]
    assert join_arguments(["say \"hi\" now", "+", "x"]) == "'say \"hi\" now' + x"
