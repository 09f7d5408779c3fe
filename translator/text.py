"""Text cleaning, tokenization and detokenization (pure Python, no TensorFlow).

The rules, in order (``clean``):

1. Unicode NFC. Accents are never stripped: ``où`` and ``ou`` stay different words.
2. Every white-space character (U+202F narrow no-break space and U+00A0 no-break space
   included) becomes a plain space; runs of spaces collapse to one.
3. Curly apostrophes (’ ‘ ʼ) become ``'`` and curly double quotes (“ ” „) become ``"``.
   French guillemets « » are kept as they are.
4. Control and invisible format characters are removed.
5. Lowercasing only if asked (the default config keeps case, so that names such as
   "Tom" and sentence capitals come back right in translations).

Tokenization (``tokenize``) then makes every punctuation mark its own token (``« » ; :
¿ ¡ … ! ?`` and the rest), keeps digits (``3,5`` and ``10:30`` stay one token), and treats
apostrophes and hyphens inside words the same way in both languages:

* French elision keeps the apostrophe on the elided word: ``j'ai`` → ``j' ai``,
  ``l'été`` → ``l' été``, ``qu'il`` → ``qu' il``; words like ``aujourd'hui`` whose first part
  is not an elided article or pronoun stay whole.
* English clitics split Penn-Treebank style: ``don't`` → ``do n't``, ``I'm`` → ``I 'm``,
  ``Tom's`` → ``Tom 's``.
* A hyphen followed by a subject or object pronoun (French inversion) starts a token of its
  own: ``est-ce`` → ``est -ce``, ``a-t-il`` → ``a -t -il``, ``dis-moi`` → ``dis -moi``. Other
  hyphenated words stay whole: ``peut-être``, ``grand-mère``, ``twenty-one``.

Detokenization (``detokenize``) undoes all of that. Spacing rule for French: a plain space
before ``! ? : ; »`` and after ``«`` (as in "Cours !"); for English no space before them.
"""

from __future__ import annotations

import re
import unicodedata

ELIDED_PREFIXES = frozenset(
    [
        "l",
        "d",
        "j",
        "m",
        "n",
        "s",
        "t",
        "c",
        "ç",
        "qu",
        "jusqu",
        "lorsqu",
        "puisqu",
        "quoiqu",
        "quelqu",
    ]
)
ENGLISH_CLITICS = ("'s", "'m", "'re", "'ve", "'ll", "'d")
INVERSION_PRONOUNS = frozenset(
    [
        "je",
        "tu",
        "il",
        "elle",
        "on",
        "nous",
        "vous",
        "ils",
        "elles",
        "ce",
        "moi",
        "toi",
        "le",
        "la",
        "les",
        "lui",
        "leur",
        "y",
        "en",
        "t",
    ]
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
_TOKEN_RE = re.compile(r"\d+(?:[.,:]\d+)+|\w+(?:['-]\w+)*|\S")
_SPACES_RE = re.compile(r"\s+")

# Tokens that attach to the word before them (no space in between).
_CLOSING = frozenset(".,)]}…%")
_CLOSING_ENGLISH_ONLY = frozenset("!?:;")
_OPENING = frozenset("([{¿¡")


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


def tokenize(text: str, lowercase: bool = False) -> list[str]:
    """Clean ``text`` and split it into word and punctuation tokens (never empty ones)."""
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(clean(text, lowercase)):
        tokens.extend(_split_word(match.group()))
    return tokens


def _split_word(word: str) -> list[str]:
    """Apply the elision, clitic and inversion rules to one regex word."""
    if len(word) == 1 or not ("'" in word or "-" in word):
        return [word]
    pieces: list[str] = []
    while "'" in word:  # French elision, possibly repeated: "qu'aujourd'hui"
        head, rest = word.split("'", 1)
        if head.lower() not in ELIDED_PREFIXES:
            break
        pieces.append(head + "'")
        word = rest
    lowered = word.lower()
    if lowered.endswith("n't") and len(word) > 3:
        pieces.append(word[:-3])
        word = word[-3:]
    else:
        for clitic in ENGLISH_CLITICS:
            if lowered.endswith(clitic) and len(word) > len(clitic) and word.count("'") == 1:
                pieces.append(word[: -len(clitic)])
                word = word[-len(clitic) :]
                break
    parts = word.split("-")
    pieces.append(parts[0])
    for part in parts[1:]:
        if part.lower() in INVERSION_PRONOUNS:
            pieces.append("-" + part)
        else:
            pieces[-1] += "-" + part
    return [piece for piece in pieces if piece]


def detokenize(tokens: list[str], lang: str = "fr") -> str:
    """Join tokens into a normal sentence (the inverse of ``tokenize`` on normal text)."""
    french = lang == "fr"
    out: list[str] = []
    open_quote = False
    glue_next = True  # no space before the first token
    for token in tokens:
        glue = glue_next
        glue_next = False
        if token == '"':
            if open_quote:
                glue = True
            else:
                glue_next = True
            open_quote = not open_quote
        elif (
            token in _CLOSING
            or (not french and token in _CLOSING_ENGLISH_ONLY)
            or token == "»"
            and not french
            or token == "n't"
            or token.lower() in ENGLISH_CLITICS
            or token.startswith("-")
            and len(token) > 1
        ):
            glue = True
        if (
            token in _OPENING
            or (token == "«" and not french)
            or len(token) > 1
            and token.endswith("'")
        ):
            glue_next = True
        if out and not glue:
            out.append(" ")
        out.append(token)
    return "".join(out)
