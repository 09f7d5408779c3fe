"""What tokenization and detokenization do differently per language, as one table.

* ``en`` English: clitics split off (``don't`` → ``do n't``, ``it's`` → ``it 's``) and
  joined back; no space before ``! ? : ;``.
* ``fr`` French: elision keeps the apostrophe on the elided word (``j'ai`` → ``j' ai``;
  ``aujourd'hui`` stays whole); a pronoun after a hyphen starts a token (``est-ce`` →
  ``est -ce``); a space before ``! ? : ;`` and inside « ».
* ``es`` Spanish: ``¿ ¡`` are tokens, joined to the word after them.
* ``de`` German: case is kept even with ``data.lowercase`` (nouns are capitalised).
* ``it`` Italian: elision as in French (``l'uomo`` → ``l' uomo``, ``c'è``); a word that
  ends in an apostrophe keeps it (``po'``).
* ``pt`` Portuguese: a pronoun after a hyphen starts a token (``chama-se`` → ``chama -se``).

Everywhere else hyphenated words stay whole, and contractions written as one word (``del``,
``al``, ``do``, ``na``, ``zum``) stay whole. A language not in the table is refused with an
error naming the ones that are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from translator.core.errors import UserError


@dataclass(frozen=True)
class LanguageRules:
    name: str
    elided_prefixes: frozenset = field(default_factory=frozenset)  # "l" in "l'été"
    clitics: tuple = ()  # English endings split off: "n't", "'s", ...
    hyphen_pronouns: frozenset = field(default_factory=frozenset)  # "-ce" in "est-ce"
    space_before: frozenset = field(default_factory=frozenset)  # French "Cours !"
    trailing_apostrophe: bool = False  # Italian "po'": an apostrophe that ends a word
    keeps_case: bool = False  # German nouns are capitalised: never lowercase


FRENCH_ELISIONS = "l d j m n s t c ç qu jusqu lorsqu puisqu quoiqu quelqu"
ITALIAN_ELISIONS = (
    "l un d c m t s v n dell all dall nell sull coll quest quell bell sant buon nessun tutt "
    "mezz anch com dov"
)
FRENCH_PRONOUNS = "je tu il elle on nous vous ils elles ce moi toi le la les lui leur y en t"
PORTUGUESE_PRONOUNS = "me te se lhe lhes o a os as lo la los las no na nos nas vos"

RULES = {
    "en": LanguageRules("English", clitics=("n't", "'s", "'m", "'re", "'ve", "'ll", "'d")),
    "fr": LanguageRules(
        "French",
        elided_prefixes=frozenset(FRENCH_ELISIONS.split()),
        hyphen_pronouns=frozenset(FRENCH_PRONOUNS.split()),
        space_before=frozenset("!?:;»"),
    ),
    "es": LanguageRules("Spanish"),
    "de": LanguageRules("German", keeps_case=True),
    "it": LanguageRules(
        "Italian",
        elided_prefixes=frozenset(ITALIAN_ELISIONS.split()),
        trailing_apostrophe=True,
    ),
    "pt": LanguageRules("Portuguese", hyphen_pronouns=frozenset(PORTUGUESE_PRONOUNS.split())),
}


def rules(lang: str) -> LanguageRules:
    """The rules of a language code, or a UserError naming the codes there are."""
    try:
        return RULES[lang]
    except KeyError:
        known = ", ".join(f"{code} ({r.name})" for code, r in RULES.items())
        raise UserError(f"language {lang!r} has no text rules; use one of {known}") from None
