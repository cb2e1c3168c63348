"""Mind-Animator's caption augmentation (appendix C.1): Easy Data Augmentation (Wei & Zou 2019).

Each operation is applied to a caption with its own probability (C.1: synonym replacement 0.5, random
insertion, random swap and random deletion 0.2 each), each touching one word. Synonyms come from a table
(``word<TAB>synonym,synonym``; EDA uses WordNet, which cannot be downloaded here: resources/synonyms.tsv covers
film-caption words and the synthetic world's, and a WordNet export can replace it). Hand-written: the EDA
packages on PyPI (``eda-nlp`` forks) download WordNet through nltk at import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_synonyms(path) -> dict[str, list[str]]:
    """{word: [synonyms]} of a ``word<TAB>synonym,synonym`` table (``#`` comments); symmetric closure."""
    table: dict[str, set[str]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'word<TAB>synonym,synonym,...'; fix: separate the word from its "
                             "synonyms with a tab")  # fmt: skip
        word, syns = line.split("\t", 1)
        group = {word.strip().lower(), *(s.strip().lower() for s in syns.split(",") if s.strip())}
        for w in group:
            table.setdefault(w, set()).update(group - {w})
    return {w: sorted(s) for w, s in table.items()}


def augment_caption(caption: str, synonyms: dict, rng: np.random.Generator, *, synonym: float = 0.5,
                    insert: float = 0.2, swap: float = 0.2, delete: float = 0.2) -> str:  # fmt: skip
    """One EDA variant of ``caption``: each operation applied with its probability, in EDA's order."""
    words = caption.split()
    if not words:
        return caption

    def has_synonym(w):
        return bool(synonyms.get(w.lower().strip(".,;:!?")))

    if rng.random() < synonym:
        candidates = [i for i, w in enumerate(words) if has_synonym(w)]
        if candidates:
            i = candidates[rng.integers(len(candidates))]
            core = words[i].lower().strip(".,;:!?")
            tail = words[i][len(words[i].rstrip(".,;:!?")):]
            choices = synonyms[core]
            words[i] = choices[rng.integers(len(choices))] + tail
    if rng.random() < insert:
        candidates = [w.lower().strip(".,;:!?") for w in words if has_synonym(w)]
        if candidates:
            choices = synonyms[candidates[rng.integers(len(candidates))]]
            words.insert(int(rng.integers(len(words) + 1)), choices[rng.integers(len(choices))])
    if rng.random() < swap and len(words) > 1:
        i, j = rng.choice(len(words), 2, replace=False)
        words[i], words[j] = words[j], words[i]
    if rng.random() < delete and len(words) > 1:
        del words[int(rng.integers(len(words)))]
    return " ".join(words)


def caption_variants(captions: list[str], synonyms: dict, n: int, seed: int = 0, **probabilities) -> list[list[str]]:
    """For each caption, itself followed by ``n`` EDA variants (drawn with ``seed``)."""
    rng = np.random.default_rng(seed)
    return [[c, *(augment_caption(c, synonyms, rng, **probabilities) for _ in range(n))] for c in captions]
