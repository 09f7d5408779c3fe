"""Text cleaning, tokenization and detokenization (pure Python, no TensorFlow).

The rules, in order (``clean``):

1. Unicode NFC. Accents are never stripped: ``où`` and ``ou`` stay different words.
2. Every white-space character (U+202F narrow no-break space and U+00A0 no-break space
   included) becomes a plain space; runs of spaces collapse to one.
3. Curly apostrophes (’ ‘ ʼ) become ``'`` and curly double quotes (“ ” „) become ``"``.
   Guillemets « » are kept as they are.
4. Control and invisible format characters are removed.
5. Lowercasing only if asked (the default config keeps case, so that names such as
   "Tom" and sentence capitals come back right in translations).

Tokenization (``tokenize``) then makes every punctuation mark its own token (``« » ; :
¿ ¡ … ! ?`` and the rest) and keeps numbers whole (``3,5``, ``10:30``); what happens to
apostrophes and hyphens inside a word, and to spacing when the tokens are joined again
(``detokenize``), depends on the language: ``translator.core.languages`` holds the table.
"""

from __future__ import annotations

import re
import unicodedata

from translator.core.languages import rules

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
_NUMBER, _WORD = r"\d+(?:[.,:]\d+)+", r"\w+(?:['-]\w+)*"
_TOKEN_RE = re.compile(rf"{_NUMBER}|{_WORD}|\S")
_TOKEN_TRAILING_APOSTROPHE_RE = re.compile(rf"{_NUMBER}|{_WORD}'(?!\w)|{_WORD}|\S")  # Italian po'

_SPACES_RE = re.compile(r"\s+")

_CLOSING = frozenset(".,)]}…%!?:;»")  # attach to the word before (unless the language spaces them)
_OPENING = frozenset("([{¿¡«")  # attach to the word after (unless the language spaces them)


def clean(text: str, lowercase: bool = False) -> str:
    """Normalise one sentence; idempotent: ``clean(clean(s)) == clean(s)``."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(_clean_char(ch) for ch in text.translate(_APOSTROPHES))
    if lowercase:
        text = unicodedata.normalize("NFC", text.lower())
    return _SPACES_RE.sub(" ", text).strip()


def _clean_char(ch: str) -> str:
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""
    return ch


def tokenize(text: str, lang: str, *, lowercase: bool = False) -> list[str]:
    """Clean ``text`` and split it into word and punctuation tokens (never empty ones).

    ``lowercase`` is ignored for languages that keep case (German).
    """
    language = rules(lang)
    pattern = _TOKEN_TRAILING_APOSTROPHE_RE if language.trailing_apostrophe else _TOKEN_RE
    tokens: list[str] = []
    for match in pattern.finditer(clean(text, lowercase and not language.keeps_case)):
        tokens.extend(_split_word(match.group(), language))
    return tokens


def _split_word(word: str, language) -> list[str]:
    """Apply the language's elision, clitic and hyphen rules to one regex word."""
    if len(word) == 1 or not ("'" in word or "-" in word):
        return [word]
    pieces: list[str] = []
    while "'" in word[:-1] and language.elided_prefixes:  # elision, maybe repeated: qu'aujourd'hui
        head, rest = word.split("'", 1)
        if head.lower() not in language.elided_prefixes:
            break
        pieces.append(head + "'")
        word = rest
    lowered = word.lower()
    for clitic in language.clitics:
        if (
            lowered.endswith(clitic)
            and len(word) > len(clitic)
            and (clitic == "n't" or word.count("'") == 1)
        ):
            pieces.append(word[: -len(clitic)])
            word = word[-len(clitic) :]
            break
    # Pronouns after hyphens, from the end (a-t-il → a -t -il); a pronoun inside a compound
    # stays (hors-la-loi).
    parts, pronouns = word.split("-"), []
    while len(parts) > 1 and parts[-1].lower() in language.hyphen_pronouns:
        pronouns.insert(0, "-" + parts.pop())
    pieces += ["-".join(parts), *pronouns]
    return [piece for piece in pieces if piece]


def _attaches_left(token: str, language) -> bool:
    """Whether ``token`` follows the word before it without a space (``.``, ``n't``, ``-il``)."""
    if token in _CLOSING:
        return token not in language.space_before
    return token.lower() in language.clitics or (token.startswith("-") and len(token) > 1)


def _attaches_right(token: str, language) -> bool:
    """Whether the word after ``token`` follows it without a space (``¿``, ``l'``)."""
    if token in _OPENING:
        return not (token == "«" and "»" in language.space_before)
    return len(token) > 1 and token.endswith("'") and token[:-1].lower() in language.elided_prefixes


def detokenize(tokens: list[str], lang: str) -> str:
    """Join tokens into a normal sentence of ``lang`` (the inverse of ``tokenize``)."""
    language = rules(lang)
    out: list[str] = []
    open_quote = False
    glue_next = True  # no space before the first token
    for token in tokens:
        glue, glue_next = glue_next, False
        if token == '"':  # straight quotes alternate: opening, then closing
            glue, glue_next = glue or open_quote, not open_quote
            open_quote = not open_quote
        else:
            glue = glue or _attaches_left(token, language)
            glue_next = _attaches_right(token, language)
        if out and not glue:
            out.append(" ")
        out.append(token)
    return "".join(out)
