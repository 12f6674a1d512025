"""Offline retrieval over a tenant's knowledge entries: BM25 (bm25s) plus fuzzy matching (rapidfuzz).

BM25 ranks; it does not say how sure it is. The confidence in 0..1 combines how much of the
question's information (IDF-weighted terms) the entry covers with how closely the whole question
reads like the entry's own question. Typos are mended first by snapping unknown words to the
closest word the knowledge base knows.

Anyone can write the question, so its cost is bounded: the first ``MAX_MATCH_CHARS`` of the
message are read, and at most ``MAX_MENDED`` distinct unknown words are snapped (each one is a
fuzzy search through the whole vocabulary, milliseconds on a large knowledge base).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import bm25s
from rapidfuzz import fuzz, process

from frontdesk.agents.patterns import MAX_MATCH_CHARS

MAX_MENDED = 32
WORD = re.compile(r"[\w']+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "to",
        "from",
        "in",
        "on",
        "into",
        "over",
        "under",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "there",
        "here",
        "than",
        "then",
        "so",
        "too",
        "very",
        "just",
        "also",
        "any",
        "some",
        "please",
        "pls",
        "thanks",
        "thank",
        "hey",
        "s",
        "t",
        "don't",
        "i'm",
        "it's",
    ]
)

_STOPWORD_LIST = sorted(STOPWORDS)


def tokenize(text: str) -> list[str]:
    out = []
    for word in WORD.findall(text.lower()):
        word = word.strip("'")
        if not word or word in STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: str
    question: str
    answer: str
    confidence: float


class KnowledgeIndex:
    def __init__(self, entries: list[dict]) -> None:
        self.entries = entries
        self._docs = [
            tokenize(f"{e['question']} {' '.join(e.get('tags') or [])} {e['question']}") for e in entries
        ]
        self._answers = [set(tokenize(e["answer"])) for e in entries]
        self._questions = [" ".join(tokenize(e["question"])) for e in entries]
        self.vocab = sorted({t for doc in self._docs for t in doc} | {t for a in self._answers for t in a})
        self._vocab_set = set(self.vocab)
        n = len(entries)
        df: dict[str, int] = {}
        for doc, answer in zip(self._docs, self._answers, strict=True):
            for term in set(doc) | answer:
                df[term] = df.get(term, 0) + 1
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5) * 0.5 if n else 1.0
        self._bm25: bm25s.BM25 | None = None
        if n:
            self._bm25 = bm25s.BM25()
            self._bm25.index([doc or ["\u2205"] for doc in self._docs], show_progress=False)

    def _mend(self, tokens: list[str]) -> list[str]:
        mended = []
        # unknown word -> its snapped form, "" to drop it; past MAX_MENDED words stay as written.
        snapped: dict[str, str] = {}
        for tok in tokens:
            if tok not in self._vocab_set:
                if tok not in snapped and len(snapped) < MAX_MENDED:
                    snapped[tok] = self._snap(tok)
                tok = snapped.get(tok, tok)
                if not tok:
                    continue
            mended.append(tok)
        return mended

    def _snap(self, tok: str) -> str:
        """The known word closest to ``tok``, "" for a misspelt stopword, else ``tok`` itself."""
        best = None
        if len(tok) >= 4 and self.vocab:
            best = process.extractOne(tok, self.vocab, scorer=fuzz.ratio, score_cutoff=80)
        if best is not None:
            return str(best[0])
        if process.extractOne(tok, _STOPWORD_LIST, scorer=fuzz.ratio, score_cutoff=75):
            return ""  # a misspelt "what" or "your" carries no information
        return tok

    def search(self, text: str, limit: int = 3) -> list[Match]:
        if not self.entries:
            return []
        query = self._mend(tokenize(text[:MAX_MATCH_CHARS]))
        if not query:
            return []
        candidates: set[int] = set()
        assert self._bm25 is not None
        scores = self._bm25.get_scores(query)
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        candidates.update(i for i in ranked[:5] if scores[i] > 0)
        joined = " ".join(query)
        for _, _, idx in process.extract(joined, self._questions, scorer=fuzz.token_set_ratio, limit=3):
            candidates.add(idx)
        weights = [self._idf.get(t, self._unknown_idf) for t in query]
        total = sum(weights) or 1.0
        matches = []
        for i in candidates:
            doc = set(self._docs[i])
            covered = sum(
                w * (1.0 if t in doc else 0.6 if t in self._answers[i] else 0.0)
                for t, w in zip(query, weights, strict=True)
            )
            coverage = covered / total
            closeness = fuzz.token_sort_ratio(joined, self._questions[i]) / 100
            confidence = round(min(1.0, 0.7 * coverage + 0.3 * closeness), 4)
            e = self.entries[i]
            matches.append(
                Match(entry_id=e["id"], question=e["question"], answer=e["answer"], confidence=confidence)
            )
        matches.sort(key=lambda m: -m.confidence)
        return matches[:limit]
