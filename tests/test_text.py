import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from translator.data.text import clean, detokenize, tokenize


def test_issue_example_keeps_accents_ligatures_apostrophes_and_punctuation():
    tokens = tokenize("J'ai vu ma sœur, c'est l'été !", "fr")
    assert tokens == ["J'", "ai", "vu", "ma", "sœur", ",", "c'", "est", "l'", "été", "!"]


def test_narrow_and_plain_no_break_spaces_tokenize_like_a_space():
    assert tokenize("Cours\u202f!", "fr") == tokenize("Cours !", "fr") == ["Cours", "!"]
    assert tokenize("Quoi\u00a0?", "fr") == ["Quoi", "?"]


def test_curly_apostrophes_and_quotes_become_straight():
    assert tokenize("J’ai dit “oui”.", "fr") == ["J'", "ai", "dit", '"', "oui", '"', "."]


def test_every_punctuation_mark_is_a_token_and_digits_stay():
    assert tokenize("« Oui » ; non : ¿ ¡ … 3,5 10:30", "fr") == [
        "«",
        "Oui",
        "»",
        ";",
        "non",
        ":",
        "¿",
        "¡",
        "…",
        "3,5",
        "10:30",
    ]


def test_elision_clitics_and_hyphens():
    assert tokenize("aujourd'hui jusqu'où", "fr") == ["aujourd'hui", "jusqu'", "où"]
    assert tokenize("Qu'est-ce ? A-t-il peut-être dis-moi", "fr") == [
        "Qu'",
        "est",
        "-ce",
        "?",
        "A",
        "-t",
        "-il",
        "peut-être",
        "dis",
        "-moi",
    ]
    assert tokenize("I don't know, I'm Tom's friend.", "en") == [
        "I",
        "do",
        "n't",
        "know",
        ",",
        "I",
        "'m",
        "Tom",
        "'s",
        "friend",
        ".",
    ]


def test_accents_are_never_stripped():
    assert tokenize("où ou à a", "fr") == ["où", "ou", "à", "a"]


def test_lowercase_by_config():
    assert tokenize("Tom EST là", "fr", lowercase=True) == ["tom", "est", "là"]


def test_decomposed_input_is_composed():
    assert tokenize(unicodedata.normalize("NFD", "été"), "fr") == ["été"]


def test_detokenize_gives_normal_sentences_back():
    cases = [
        ("J'ai vu ma sœur, c'est l'été !", "fr"),
        ("Qu'est-ce que c'est ? A-t-il dit « oui » ?", "fr"),
        ("Il a 3,5 ans... peut-être.", "fr"),
        ("I don't know, I'm Tom's friend.", "en"),
        ('He said "hi" (twice)!', "en"),
        ("Aujourd'hui, dis-moi jusqu'où.", "fr"),
    ]
    for sentence, lang in cases:
        assert detokenize(tokenize(sentence, lang), lang) == sentence


def test_french_spacing_rule_for_detokenized_output():
    assert detokenize(["Cours", "!"], "fr") == "Cours !"
    assert detokenize(["Run", "!"], "en") == "Run!"
    assert detokenize(["Cours\u202f!"], "fr") == "Cours\u202f!"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["en", "fr", "es", "de", "it", "pt"]))
def test_no_crash_and_no_empty_token_on_any_unicode(text, lang):
    tokens = tokenize(text, lang)
    assert all(token and not token.isspace() for token in tokens)
    assert all(" " not in token for token in tokens)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_cleaning_is_idempotent(text, lowercase):
    once = clean(text, lowercase)
    assert clean(once, lowercase) == once
    assert tokenize(once, "fr", lowercase=lowercase) == tokenize(text, "fr", lowercase=lowercase)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Tom",
                "est",
                "là",
                "j'",
                "ai",
                "l'",
                "été",
                ",",
                ".",
                "!",
                "?",
                "«",
                "»",
                "-il",
                "peut-être",
                "n't",
                "'s",
                "3,5",
            ]
        ),
        max_size=12,
    )
)
def test_detokenize_then_tokenize_round_trips_token_sequences(tokens):
    # Sequences a model can emit: joining and splitting again gives the same tokens,
    # except where an elided word or clitic stands where it cannot attach.
    text = detokenize(tokens, "fr")
    again = tokenize(text, "fr")
    assert "".join(again) == "".join(tokens)
