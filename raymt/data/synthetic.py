"""A synthetic language pair, generated offline in milliseconds.

Why: comparing fine-tuning methods needs a task where (a) a tiny model learns something in a
short CPU run, (b) there is a real domain shift between pretraining and fine-tuning data, and
(c) no download is needed. English-like source sentences are generated from a small grammar
(:mod:`raymt.data.synthetic_lexicon` holds the words) and translated by rule into an invented
target language that differs from English the way real languages do:

* **lexicon**: every English lemma has an invented target word;
* **word order** (``reorder``): SVO -> SOV, adjectives after the noun, determiners after the
  adjectives, postpositions instead of prepositions, verb-final relative clauses;
* **agreement** (``agreement``): target determiners, adjectives and verbs take suffixes that
  depend on the *hidden* gender and the number of their noun (the verb on its subject), so
  the model must memorise noun genders and carry them across the sentence;
* **noise** (``noise_rate``): training targets get dropped/replaced/swapped words, as in
  web-crawled data; validation and test references stay clean.

The two domains (``general`` everyday scenes, ``medical``) share the grammar and function
words but not content words, and differ in construction mix (medical text has relative
clauses, "the nurse who treats the patient ...").

Example (general domain, seed 0), with reorder + agreement, then with both off::

    a blue father sees the tired dancer
    -> dishaise kadoumouma na kuneke draidaito ko fufougoset  (father blue.G0 a.G0 dancer tired.G1 the.G1 sees.G0)
    -> na kadoumouma dishaise fufougoset ka draidaita kuneke
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raymt.data.splits import Splits
from raymt.data.synthetic_lexicon import CONSTRUCTIONS, FUNCTION_TARGETS, build_lexicon, plural, third_singular
from raymt.errors import DataError

Domain = Literal["general", "medical"]
DOMAINS: tuple[str, ...] = ("general", "medical")
_OPEN_CLASSES = ("agents", "things", "transitive", "intransitive", "adjectives")
RARE_TAIL_FRACTION = 0.25


class SyntheticSpec(BaseModel):
    """What to generate: domain, sizes, and the knobs that make the task harder or easier."""

    model_config = ConfigDict(extra="forbid")

    domain: Domain = Field("general", description="Vocabulary and construction mix: 'general' (everyday scenes) or 'medical'.")
    seed: int = Field(0, description="Seed of the sentence sampler; the invented language itself never changes.")
    train_size: int = Field(10_000, ge=1, le=5_000_000, description="Number of training pairs.")
    valid_size: int = Field(500, ge=0, le=1_000_000, description="Number of validation pairs (disjoint from train and test).")
    test_size: int = Field(500, ge=0, le=1_000_000, description="Number of test pairs (disjoint from train and validation).")
    # 15 is the longest length every construction mix can reach exactly (an intransitive
    # general-domain clause with two adjectives per noun and two prepositional phrases).
    min_words: int = Field(3, ge=3, le=15, description="Shortest source sentence, in words.")
    max_words: int = Field(12, ge=3, le=15, description="Longest source sentence, in words (lengths are drawn uniformly in between).")
    reorder: bool = Field(
        True, description="Target word order differs from English (SOV, noun-adjective, postpositions). Off: same order as the source."
    )
    agreement: bool = Field(
        True, description="Target determiners/adjectives/verbs agree with the noun's hidden gender and number. Off: invariant forms."
    )
    noise_rate: float = Field(0.0, ge=0.0, le=0.5, description="Per-word probability of corrupting a *training* target word (drop, replace or swap).")
    lexicon_size: int | None = Field(
        None, ge=4, description="Keep at most this many lemmas per word class (nouns, verbs, adjectives); null = all built-in words."
    )
    rare_word_rate: float = Field(
        0.05, ge=0.0, le=1.0, description="Probability that a content word is drawn from the rare last quarter of its word class."
    )

    @model_validator(mode="after")
    def _lengths_ordered(self) -> SyntheticSpec:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must be <= max_words ({self.max_words})")
        return self


def _seeded(seed: int, purpose: str) -> random.Random:
    digest = hashlib.sha256(f"synthetic:{seed}:{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Grammar:
    """Samples sentence structures and renders them on both sides.

    A noun phrase is a list ``[lemma, gender, plural, definite, adjectives, relative, word_class]``
    where ``relative`` is ``None`` or ``(verb, object_np)``; a clause is
    ``(subject_np, verb, object_np | None, [(preposition, np), ...], n_words)``. Lists, not classes,
    because generating 20k pairs must stay well under a second in pure Python.
    """

    def __init__(self, spec: SyntheticSpec):
        self.spec = spec
        # plain attributes: reading pydantic fields in the hot loop costs ~5x more
        self.rare, self.agreement, self.reorder = spec.rare_word_rate, spec.agreement, spec.reorder
        self.min_words, self.max_words = spec.min_words, spec.max_words
        lex = build_lexicon(spec.domain)
        # per-class lookups precomputed: rendering is the hot loop of generation
        self.tr = {cls: {w: lex.translation[f"{cls}:{w}"] for w in words} for cls, words in lex.words.items()}
        self.plural = {w: plural(w) for cls in ("agents", "things") for w in lex.words[cls]}
        self.third = {w: third_singular(w) for cls in ("transitive", "intransitive") for w in lex.words[cls]}
        self.gender = lex.gender
        self.heads: dict[str, tuple[str, ...]] = {}
        self.tails: dict[str, tuple[str, ...]] = {}
        for cls in _OPEN_CLASSES:
            words = lex.words[cls][: spec.lexicon_size] if spec.lexicon_size else lex.words[cls]
            n_tail = math.floor(len(words) * RARE_TAIL_FRACTION)
            self.heads[cls] = words[: len(words) - n_tail]
            self.tails[cls] = words[len(words) - n_tail :]
        self.preps = lex.words["prepositions"]
        self.mix = CONSTRUCTIONS[spec.domain]
        self.noise_vocab = sorted({self.tr[c][w] for c in _OPEN_CLASSES for w in self.heads[c] + self.tails[c]})

    # ---- sampling --------------------------------------------------------------------
    def _word(self, rng: random.Random, cls: str) -> str:
        tail = self.tails[cls]
        if tail and rng.random() < self.rare:
            return tail[int(rng.random() * len(tail))]
        head = self.heads[cls]
        return head[int(rng.random() * len(head))]

    def _np(self, rng: random.Random, cls: str) -> list:
        lemma = self._word(rng, cls)
        return [lemma, self.gender[lemma], rng.random() < 0.3, rng.random() < 0.6, [], None, cls]

    def clause(self, rng: random.Random) -> tuple[list, str, list | None, list, int]:
        """A random clause and its English length in words."""
        lo, hi = self.min_words, self.max_words
        target_len = lo + int(rng.random() * (hi - lo + 1))
        intransitive = target_len < 5 or rng.random() < self.mix["intransitive"]
        subj = self._np(rng, "agents" if not intransitive else ("agents" if rng.random() < 0.5 else "things"))
        if intransitive:
            verb, obj, length = self._word(rng, "intransitive"), None, 3
        else:
            verb, obj, length = self._word(rng, "transitive"), self._np(rng, "things" if rng.random() < 0.7 else "agents"), 5
        nps = [subj] if obj is None else [subj, obj]
        pps: list = []
        w_adj, w_pp, w_rel = self.mix["adjective"], self.mix["pp"], self.mix["relative"]
        n_adj = 0
        while length < target_len:
            room = target_len - length
            a = w_adj if n_adj < 2 * len(nps) else 0.0
            p = w_pp if room >= 3 and len(pps) < 2 else 0.0
            rel_slots = [np for np in nps if np[6] == "agents" and np[5] is None] if w_rel and room >= 4 else ()
            r = w_rel if rel_slots else 0.0
            if a + p + r == 0.0:
                break
            x = rng.random() * (a + p + r)
            if x < a:
                np = nps[int(rng.random() * len(nps))]
                while len(np[4]) >= 2:
                    np = nps[int(rng.random() * len(nps))]
                np[4].append(self._word(rng, "adjectives"))
                n_adj += 1
                length += 1
            elif x < a + p:
                np = self._np(rng, "things")
                pps.append((self.preps[int(rng.random() * len(self.preps))], np))
                nps.append(np)
                length += 3
            else:
                np = rel_slots[int(rng.random() * len(rel_slots))]
                inner = self._np(rng, "things" if rng.random() < 0.7 else "agents")
                np[5] = (self._word(rng, "transitive"), inner)
                nps.append(inner)
                length += 4
        return subj, verb, obj, pps, length

    # ---- English ---------------------------------------------------------------------
    def _src_np(self, np: list, out: list[str]) -> None:
        lemma, _, pl, definite, adjs, rel, _ = np
        first = adjs[0] if adjs else lemma
        if definite:
            out.append("the")
        elif pl:
            out.append("some")
        else:
            out.append("an" if first[0] in "aeiou" else "a")
        out.extend(adjs)
        out.append(self.plural[lemma] if pl else lemma)
        if rel is not None:
            out.append("who")
            out.append(rel[0] if pl else self.third[rel[0]])
            self._src_np(rel[1], out)

    def source(self, clause) -> str:
        subj, verb, obj, pps, _ = clause
        out: list[str] = []
        self._src_np(subj, out)
        out.append(verb if subj[2] else self.third[verb])
        if obj is not None:
            self._src_np(obj, out)
        for prep, np in pps:
            out.append(prep)
            self._src_np(np, out)
        return " ".join(out)

    # ---- target ----------------------------------------------------------------------
    def _det(self, np: list) -> str:
        base = "ka" if np[3] else "na"
        if not self.agreement:
            return base
        return base[0] + ("a", "o")[np[1]] + ("s" if np[2] else "")

    def _suffix(self, np: list, forms: tuple[str, str], plural_mark: str) -> str:
        if not self.agreement:
            return forms[0]
        return forms[np[1]] + (plural_mark if np[2] else "")

    def _verb(self, verb: str, cls: str, subj: list) -> str:
        return self.tr[cls][verb] + self._suffix(subj, ("et", "ot"), "i")

    def _tgt_np(self, np: list, out: list[str]) -> None:
        lemma, _, pl, _, adjs, rel, cls = np
        noun = self.tr[cls][lemma] + ("n" if pl else "")
        adj_forms = [self.tr["adjectives"][a] + self._suffix(np, ("a", "o"), "i") for a in adjs]
        if self.reorder:
            out.append(noun)
            out.extend(adj_forms)
            out.append(self._det(np))
        else:
            out.append(self._det(np))
            out.extend(adj_forms)
            out.append(noun)
        if rel is not None:
            out.append(FUNCTION_TARGETS["who"])
            if self.reorder:
                self._tgt_np(rel[1], out)
                out.append(self._verb(rel[0], "transitive", np))
            else:
                out.append(self._verb(rel[0], "transitive", np))
                self._tgt_np(rel[1], out)

    def target(self, clause) -> str:
        subj, verb, obj, pps, _ = clause
        cls = "transitive" if obj is not None else "intransitive"
        out: list[str] = []
        self._tgt_np(subj, out)
        if self.reorder:
            if obj is not None:
                self._tgt_np(obj, out)
            for prep, np in pps:
                self._tgt_np(np, out)
                out.append(self.tr["prepositions"][prep])
            out.append(self._verb(verb, cls, subj))
        else:
            out.append(self._verb(verb, cls, subj))
            if obj is not None:
                self._tgt_np(obj, out)
            for prep, np in pps:
                out.append(self.tr["prepositions"][prep])
                self._tgt_np(np, out)
        return " ".join(out)

    def add_noise(self, text: str, rng: random.Random) -> str:
        """Corrupt each word with probability ``noise_rate``: drop, replace or swap."""
        words = text.split(" ")
        out: list[str] = []
        i = 0
        rate = self.spec.noise_rate
        while i < len(words):
            if rng.random() >= rate:
                out.append(words[i])
                i += 1
                continue
            kind = int(rng.random() * 3)
            if kind == 0 and len(words) > 1:
                i += 1  # drop
            elif kind == 1 or i + 1 >= len(words):
                out.append(self.noise_vocab[int(rng.random() * len(self.noise_vocab))])
                i += 1
            else:
                out.extend((words[i + 1], words[i]))
                i += 2
        return " ".join(out) if out else text


def _unique_clauses(grammar: _Grammar, rng: random.Random, n: int, seen: set[str], total: int) -> list:
    """``n`` clauses whose English rendering is not in ``seen`` (which is updated); ``total``
    is what the caller asked for overall, for the error message."""
    out = []
    budget = 50 * n + 1000
    while len(out) < n and budget > 0:
        budget -= 1
        clause = grammar.clause(rng)
        if clause[4] < grammar.min_words:
            continue  # the random expansions ran out of room before reaching min_words
        src = grammar.source(clause)
        if src in seen:
            continue
        seen.add(src)
        out.append((src, clause))
    if len(out) < n:
        raise DataError(
            f"the synthetic grammar produced only {len(seen)} distinct source sentences, fewer than the {total} requested",
            where="data (synthetic)",
            fix="raise lexicon_size or max_words, or lower train_size/valid_size/test_size",
        )
    return out


def generate_splits(spec: SyntheticSpec) -> Splits:
    """Train/validation/test pairs, disjoint on the source side, identical for a given spec.

    Validation and test are drawn first, so changing ``train_size`` never changes the
    evaluation sets (results stay comparable across training-set sizes).
    """
    grammar = _Grammar(spec)
    rng = _seeded(spec.seed, "pairs")
    seen: set[str] = set()
    splits: Splits = {}
    total = spec.valid_size + spec.test_size + spec.train_size
    for name, size in (("validation", spec.valid_size), ("test", spec.test_size), ("train", spec.train_size)):
        clauses = _unique_clauses(grammar, rng, size, seen, total)
        splits[name] = [(src, grammar.target(clause)) for src, clause in clauses]
    if spec.noise_rate > 0:
        noise_rng = _seeded(spec.seed, "noise")
        splits["train"] = [(s, grammar.add_noise(t, noise_rng)) for s, t in splits["train"]]
    return {"train": splits["train"], "validation": splits["validation"], "test": splits["test"]}


def generate_monolingual(spec: SyntheticSpec, side: Literal["src", "tgt"] = "tgt", n: int = 10_000) -> list[str]:
    """``n`` distinct clean sentences in one language, for back-translation or denoising.

    Drawn from a separate stream, and never one whose source sentence is in the validation
    or test split of ``generate_splits(spec)``: monolingual data that contained the test
    references would leak them into training.
    """
    if side not in ("src", "tgt"):
        raise ValueError(f"side must be 'src' or 'tgt', not {side!r}")
    grammar = _Grammar(spec)
    eval_splits = generate_splits(spec.model_copy(update={"train_size": 1, "noise_rate": 0.0}))
    seen = {src for name in ("validation", "test") for src, _ in eval_splits[name]}
    clauses = _unique_clauses(grammar, _seeded(spec.seed, f"mono:{side}"), n, seen, n)
    if side == "src":
        return [src for src, _ in clauses]
    return [grammar.target(clause) for _, clause in clauses]
