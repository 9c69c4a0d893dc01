"""The built-in vocabulary of the synthetic language pair.

Two domains with (almost) disjoint content words, so that a model pretrained on one and
fine-tuned on the other must learn new lexical entries while reusing the grammar: the same
situation as adapting a general-domain MT model to medical text. Only function words
(determiners, the relative pronoun) are shared, as in real domain shift.

Target words are invented (see :func:`invent_word`): derived from a hash of the English
lemma, so the language never changes between runs, machines or Python versions, and adding a
lemma to a list does not change the translation of any other lemma.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

# Each open class is listed most-frequent first: `lexicon_size` keeps a prefix, and the last
# quarter of the kept prefix is the "rare" tail that `rare_word_rate` draws from.
_GENERAL = {
    "agents": (
        "man woman child boy girl dog cat horse bird farmer teacher player singer dancer "
        "student baby mother father sister brother friend driver fisherman climber tourist "
        "waiter painter musician cyclist soldier"
    ),
    "things": (
        "ball house tree street park garden river beach table chair book bag hat shirt cup "
        "bottle window door bridge boat train bus market shop kitchen field hill lake road "
        "city village flower apple bread cake guitar camera picture letter box fence kite "
        "umbrella bench wall roof sand snow"
    ),
    "transitive": (
        "see watch hold carry throw catch push pull paint wash open close buy sell find lose "
        "build kick read draw hit fix drive ride feed visit chase follow climb cross"
    ),
    "intransitive": "sleep run sing dance smile laugh sit stand wait jump swim walk play cry rest",
    "adjectives": (
        "small big old young red blue green happy tall short white black yellow brown new "
        "quiet loud wet dry hungry tired pretty busy warm cold dirty fast slow heavy strong"
    ),
    "prepositions": "in on near under behind beside",
}

_MEDICAL = {
    "agents": (
        "patient doctor nurse surgeon pharmacist therapist dentist midwife paramedic "
        "specialist radiologist cardiologist physician intern resident donor caregiver "
        "technician anaesthetist pathologist"
    ),
    "things": (
        "tablet pill dose injection vaccine fever wound infection fracture rash allergy "
        "symptom diagnosis treatment clinic hospital ward ambulance scanner syringe "
        "stethoscope thermometer prescription ointment antibiotic virus tumour kidney liver "
        "lung heart sample biopsy ulcer migraine insulin inhaler catheter splint stretcher "
        "vein artery muscle skull spine"
    ),
    "transitive": (
        "treat examine prescribe diagnose inject vaccinate admit discharge disinfect measure "
        "record reduce prevent cause cure relieve analyse refer review schedule request "
        "administer sterilise replace remove inspect order suture"
    ),
    "intransitive": "recover improve worsen heal breathe faint bleed vomit relapse swell ache",
    "adjectives": (
        "chronic acute severe mild sterile elderly diabetic infected swollen painful oral "
        "viral bacterial cardiac renal pulmonary surgical clinical urgent stable critical "
        "allergic intravenous benign malignant fragile anxious feverish"
    ),
    "prepositions": "for with after before during against",
}

#: How often each construction appears, per domain: the domains differ in syntax, not only
#: in words (medical text has relative clauses; everyday scenes have more adjectives/places).
CONSTRUCTIONS = {
    "general": {"intransitive": 0.3, "adjective": 0.45, "pp": 0.45, "relative": 0.0},
    "medical": {"intransitive": 0.15, "adjective": 0.3, "pp": 0.35, "relative": 0.4},
}

_IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "fisherman": "fishermen",
    "midwife": "midwives",
    "knife": "knives",
    "diagnosis": "diagnoses",
    "virus": "viruses",
}
_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """English plural, regular rules plus the few irregular nouns of the lexicon."""
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def third_singular(verb: str) -> str:
    """English 3rd person singular present ("the dog sees", "the nurse washes")."""
    if verb.endswith(("s", "x", "ch", "sh", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in _VOWELS:
        return verb[:-1] + "ies"
    return verb + "s"


_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "dr", "kl")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("n", "r", "l", "s", "k", "m", "t")


def invent_word(lemma: str, word_class: str, salt: int = 0) -> str:
    """An invented target word for an English lemma, stable across runs and lexicon edits.

    Nouns end in a vowel, adjective and verb stems in a consonant so agreement suffixes
    attach cleanly (the model must learn stems and suffixes separately).
    """
    digest = hashlib.blake2b(f"{word_class}:{lemma}:{salt}".encode(), digest_size=16).digest()
    n_syllables = 2 + digest[0] % 2
    parts = []
    for i in range(n_syllables):
        parts.append(_ONSETS[digest[1 + 2 * i] % len(_ONSETS)])
        parts.append(_NUCLEI[digest[2 + 2 * i] % len(_NUCLEI)])
    if word_class in ("adjectives", "transitive", "intransitive"):
        parts.append(_CODAS[digest[10] % len(_CODAS)])
    return "".join(parts)


@dataclass(frozen=True)
class Lexicon:
    """One domain's words: English lemmas per class and their invented translations."""

    words: dict[str, tuple[str, ...]]
    translation: dict[str, str]  # "class:lemma" -> target stem
    gender: dict[str, int]  # noun lemma -> 0 or 1 (hidden: not visible in the target form)


# Function words shared by every domain; their translations depend on gender/number when
# agreement is on (see synthetic.py).
FUNCTION_TARGETS = {"who": "ke"}


def _check_no_overlap() -> None:
    general = {w for text in _GENERAL.values() for w in text.split()}
    medical = {w for text in _MEDICAL.values() for w in text.split()}
    assert not general & medical, f"domains share content words: {general & medical}"


_check_no_overlap()
DOMAIN_WORDS = {"general": _GENERAL, "medical": _MEDICAL}


@cache
def build_lexicon(domain: str) -> Lexicon:
    """The full lexicon of a domain; target words are unique across *all* domains."""
    used: dict[str, str] = {}  # target word -> key, across both domains
    for dom in sorted(DOMAIN_WORDS):
        for cls, text in sorted(DOMAIN_WORDS[dom].items()):
            for lemma in text.split():
                salt = 0
                word = invent_word(lemma, cls, salt)
                while word in used and used[word] != f"{cls}:{lemma}":
                    salt += 1
                    word = invent_word(lemma, cls, salt)
                used[word] = f"{cls}:{lemma}"
    by_key = {key: word for word, key in used.items()}
    words = {cls: tuple(text.split()) for cls, text in DOMAIN_WORDS[domain].items()}
    translation = {f"{cls}:{w}": by_key[f"{cls}:{w}"] for cls, ws in words.items() for w in ws}
    gender = {w: hashlib.blake2b(f"gender:{w}".encode(), digest_size=1).digest()[0] % 2 for cls in ("agents", "things") for w in words[cls]}
    return Lexicon(words=words, translation=translation, gender=gender)
