"""Per-language text rules: real sentences survive tokenize then detokenize, tricky cases."""

import pytest

from translator.core.errors import UserError
from translator.data.text import detokenize, tokenize

SENTENCES = {
    "en": [
        "I don't know what you're talking about.",
        "It's raining, isn't it?",
        "Tom's car is red.",
        "We'll see you at 7:45.",
        "She'd rather stay home.",
        "They've been here since 2010.",
        "I can't believe it!",
        'He said "hello" and left.',
        "Where's the station?",
        "You're welcome.",
        "Mr. Kowalski arrived at 7:45.",
        "The price is 3.50 dollars.",
        "I'm twenty-one years old.",
        "Let's go to the park.",
        "Don't worry; be happy.",
        "It costs 10% more.",
        "She asked: why not?",
        "We won't give up.",
        "The children's books are (mostly) new.",
        "Who's there?",
        "I've lost my keys...",
    ],
    "fr": [
        "J'ai vu ma sœur, c'est l'été !",
        "Qu'est-ce que c'est ?",
        "Il fait beau aujourd'hui.",
        "Jusqu'où irez-vous ?",
        "Va-t'en !",
        "Où est Tom ?",
        "Je n'ai pas faim.",
        "« Oui », dit-il.",
        "Peut-être demain.",
        "C'est l'heure : on y va !",
        "Tu as 3,5 euros ?",
        "Il est 10:30.",
        "Est-ce que tu viens ?",
        "Lorsqu'il pleut, je lis.",
        "Dis-moi la vérité.",
        "Nous sommes le 14 juillet.",
        "L'homme qu'il a vu est parti.",
        "Quelqu'un a appelé.",
        "Puisqu'il le faut ; allons-y.",
        "Ma grand-mère a 80 ans.",
        "Attention : chien méchant !",
        "Je t'aime.",
    ],
    "es": [
        "¿Dónde está la estación?",
        "¡Qué bonito día!",
        "Me llamo Juan.",
        "¿Cómo estás?",
        "No sé nada del asunto.",
        "Vamos al cine mañana.",
        "Tengo 3,5 euros.",
        "Son las 7:45.",
        "¡Cuidado!",
        "¿Por qué no vienes?",
        "El niño come una manzana.",
        "Ella vive en Madrid desde 2010.",
        "¿Quieres café o té?",
        "Hace mucho frío hoy.",
        "Mi hermano es médico.",
        "¡Feliz cumpleaños, María!",
        "No puedo, lo siento.",
        "¿Habla usted inglés?",
        "Estoy cansado; me voy a dormir.",
        "El tren sale a las 10:30.",
    ],
    "de": [
        "Wie geht es dir?",
        "Ich habe einen Hund.",
        "Das Wetter ist heute schön.",
        "Wo ist der Bahnhof?",
        "Ich heiße Anna.",
        "Wir gehen zum Kino.",
        "Er kommt um 7:45 an.",
        "Das kostet 3,50 Euro.",
        "Hast du Hunger?",
        "Der Apfel ist rot.",
        "Die Kinder spielen im Garten.",
        "Ich verstehe das nicht.",
        "Kannst du mir helfen?",
        "Mein Bruder wohnt in Berlin.",
        "Es regnet seit Montag.",
        "Vielen Dank für alles!",
        "Das ist eine gute Idee.",
        "Wie spät ist es?",
        "Ich lerne Deutsch; es ist schwer.",
        "Die E-Mail ist angekommen.",
        "Wie geht's?",
    ],
    "it": [
        "L'uomo è alto.",
        "C'è un gatto sul tetto.",
        "Dov'è la stazione?",
        "Vorrei un po' di acqua.",
        "Dell'acqua, per favore.",
        "Un'altra volta!",
        "Quest'anno vado in Italia.",
        "Com'è bello!",
        "Mi chiamo Marco.",
        "Non lo so.",
        "Sono le 7:45.",
        "Costa 3,50 euro.",
        "Abbiamo mangiato all'una.",
        "Nell'estate fa caldo.",
        "Sull'isola ci sono molti turisti.",
        "Ho visto l'amico di Luca.",
        "Che cos'è?",
        "Anch'io vengo.",
        "Perché non vieni?",
        "È un bell'esempio.",
    ],
    "pt": [
        "Como se chama?",
        "Chama-se Maria.",
        "Dá-me o livro, por favor.",
        "Eu não sei.",
        "Onde fica a estação?",
        "Estou com fome.",
        "O comboio parte às 7:45.",
        "Custa 3,50 euros.",
        "Vou ao cinema amanhã.",
        "Ela mora no Porto.",
        "Diga-me a verdade.",
        "O guarda-chuva é azul.",
        "Levanto-me cedo.",
        "Obrigado pela ajuda!",
        "Qual é o seu nome?",
        "Temos dois filhos.",
        "Faz muito frio hoje.",
        "Conheço-o há anos.",
        "Bem-vindo ao Brasil!",
        "Está tudo bem; vamos.",
    ],
}


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_real_sentences_round_trip(lang):
    assert len(SENTENCES[lang]) >= 20
    for sentence in SENTENCES[lang]:
        assert detokenize(tokenize(sentence, lang), lang) == sentence


@pytest.mark.parametrize(
    "text, lang, tokens",
    [
        ("¿Dónde está? ¡Hola!", "es", ["¿", "Dónde", "está", "?", "¡", "Hola", "!"]),
        ("I don't, it's Tom's.", "en", ["I", "do", "n't", ",", "it", "'s", "Tom", "'s", "."]),
        ("J'ai dit : est-ce vrai ?", "fr", ["J'", "ai", "dit", ":", "est", "-ce", "vrai", "?"]),
        ("Dis-le-moi, hors-la-loi.", "fr", ["Dis", "-le", "-moi", ",", "hors-la-loi", "."]),
        (
            "Dell'acqua, un po' di più.",
            "it",
            ["Dell'", "acqua", ",", "un", "po'", "di", "più", "."],
        ),
        (
            "Chama-se Ana; o guarda-chuva.",
            "pt",
            ["Chama", "-se", "Ana", ";", "o", "guarda-chuva", "."],
        ),
        ("Wie geht's?", "de", ["Wie", "geht's", "?"]),
        ("Vamos al cine del barrio.", "es", ["Vamos", "al", "cine", "del", "barrio", "."]),
    ],
)
def test_tricky_cases_tokenize_as_each_language_does(text, lang, tokens):
    assert tokenize(text, lang) == tokens


def test_detokenized_spacing_follows_the_target_language():
    assert detokenize(["do", "n't", "go", "!"], "en") == "don't go!"
    assert detokenize(["it", "'s", "here", "?"], "en") == "it's here?"
    assert detokenize(["Cours", "!"], "fr") == "Cours !"
    assert detokenize(["Cours", "!"], "en") == "Cours!"  # French spacing only for French
    assert detokenize(["«", "Oui", "»"], "fr") == "« Oui »"
    assert detokenize(["«", "Oui", "»"], "de") == "«Oui»"
    assert detokenize(["¿", "Qué", "?", "¡", "Ya", "!"], "es") == "¿Qué? ¡Ya!"
    assert detokenize(["l'", "uomo", "un", "po'", "di"], "it") == "l'uomo un po' di"


def test_german_nouns_keep_their_capitals_even_when_lowercasing():
    assert tokenize("Der Hund schläft.", "de", lowercase=True) == ["Der", "Hund", "schläft", "."]
    assert tokenize("Der Hund schläft.", "en", lowercase=True) == ["der", "hund", "schläft", "."]


def test_an_unknown_language_is_refused_with_the_known_ones():
    with pytest.raises(UserError, match="language 'xx' has no text rules; use one of en"):
        tokenize("Hello.", "xx")
