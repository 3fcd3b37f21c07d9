"""Look-alike questions: how often does each system call a question a duplicate of its own
template sibling with one entity swapped ("Divorce in Nepal?" vs "Divorce in Armenia?")?

The contrast set is made from real questions of the validation pairs (for choosing) and of
the test pairs (for reporting): in each question the first mention of a country, US state,
city, person, company, product, programming or spoken language (lists in
contrast_entities.py), year or other number is swapped for another of its kind that the
question does not mention. Each swapped pair is a non-duplicate by construction; the figure
is the share judged duplicate at the system's threshold (lower is better), next to the
system's accuracy, precision and recall on the real test pairs at the same threshold (a
system that never says "duplicate" would score 0% here and be useless).

``--search`` also asks the forum question: index every distinct question of the file, search
with each swapped test question, and count how often its original sibling is flagged a
"likely duplicate" (``qdup search``'s flag). ``--mine`` mines groups on that index as
``qdup mine --groups`` does and counts template siblings inside groups.

    python benchmarks/contrast.py [--model NAME=DIR ...] [--no-tfidf] [--search] [--mine] [--name NAME]

``--model`` without a name or path ("built-in=") is the built-in model. A model uses its own
calibrated threshold; one without calibration (a pretrained folder used as it is) and
TF-IDF use their accuracy-maximising threshold on the validation pairs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, machine, write_results  # noqa: E402
from contrast_entities import KINDS  # noqa: E402

import qdup  # noqa: E402
from qdup.evaluation import metrics  # noqa: E402
from qdup.text.vocabulary import tokenize  # noqa: E402

SEED = 0
MIN_WORDS = 3  # the swapped word must not be the whole question
YEAR = re.compile(r"(?<![\w.])(19[5-9]\d|20[0-3]\d)(?![\w.])")
NUMBER = re.compile(r"(?<![\w.,])(\d{1,4})(?![\w.,])")


def _pattern(names: list[str]) -> re.Pattern:
    ordered = sorted(names, key=len, reverse=True)  # "New Jersey" before "Jersey", "iPhone 6" before "iPhone"
    return re.compile(r"(?<![\w+#])(%s)(?![\w+#])" % "|".join(re.escape(n) for n in ordered), re.IGNORECASE)


PATTERNS = {kind: _pattern(names) for kind, names in KINDS.items()}


def _styled(replacement: str, found: str, names: list[str]) -> str:
    """The replacement written as the question wrote the original: lower case stays lower,
    a name written as listed ("C++", "IBM") gives the replacement as listed."""
    if found in names:
        return replacement
    if found.islower():
        return replacement.lower()
    if found.isupper() and len(found) > 1:
        return replacement.upper()
    return replacement


def swaps(question: str, rng: np.random.Generator) -> list[tuple[str, str, str, str]]:
    """``(kind, original, replacement, swapped question)`` for each kind found in ``question``:
    its first mention swapped for another of its kind that the question does not mention."""
    out = []
    lowered = question.lower()
    for kind, pattern in PATTERNS.items():
        found = pattern.search(question)
        if not found:
            continue
        others = [n for n in KINDS[kind] if n.lower() not in lowered and not _overlaps(n, found.group(1))]
        replacement = _styled(others[rng.integers(len(others))], found.group(1), KINDS[kind])
        out.append((kind, found.group(1), replacement, _replace(question, found, replacement)))
    year = YEAR.search(question)
    if year:
        value = int(year.group(1))
        shifts = [d for d in range(-10, 11) if d and str(value + d) not in question and 1950 <= value + d <= 2039]
        replacement = str(value + shifts[rng.integers(len(shifts))])
        out.append(("year", year.group(1), replacement, _replace(question, year, replacement)))
    number = next((m for m in NUMBER.finditer(question) if not YEAR.fullmatch(m.group(1))), None)
    if number:
        value = int(number.group(1))
        digits = len(number.group(1))
        low, high = (2, 10) if digits == 1 else (10 ** (digits - 1), 10**digits)
        choices = [v for v in range(low, high) if v != value and str(v) not in question]
        if choices:
            replacement = str(choices[rng.integers(len(choices))])
            out.append(("number", number.group(1), replacement, _replace(question, number, replacement)))
    return out


def _overlaps(name: str, found: str) -> bool:
    """"Trump" and "Donald Trump" are the same person: never swap one for the other."""
    a, b = name.lower(), found.lower()
    return a in b or b in a


def _replace(question: str, match: re.Match, replacement: str) -> str:
    return question[: match.start(1)] + replacement + question[match.end(1) :]


def contrast_pairs(questions: list[str], seed: int = SEED) -> list[tuple[str, str, str]]:
    """``(kind, question, swapped)`` for every swap of every question (sorted, deduplicated
    input; one random generator, so the set is the same on every run)."""
    rng = np.random.default_rng(seed)
    out = []
    for question in sorted({q.strip() for q in questions}):
        if len(tokenize(question)) < MIN_WORDS:
            continue
        for kind, _, _, swapped in swaps(question, rng):
            if tokenize(swapped) != tokenize(question):
                out.append((kind, question, swapped))
    return out


def tfidf_system(split):
    """Character 2-5-gram TF-IDF cosine fitted on the training pool, as benchmarks/quality.py."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [q for p in (split.train, split.negatives) for q in p.question1 + p.question2]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True, sublinear_tf=True).fit(texts)

    def score(a: list[str], b: list[str]) -> np.ndarray:
        return np.asarray(vectorizer.transform(a).multiply(vectorizer.transform(b)).sum(axis=1)).ravel()

    return score


def judge(name: str, score, threshold: float | None, split, sets: dict) -> dict:
    """Contrast rates per set and kind, and the real test pairs' figures, at one threshold."""
    valid, test = split.validation, split.test
    chosen = "own (calibrated)"
    if threshold is None:
        threshold, _ = metrics.threshold_sweep(valid.is_duplicate, score(valid.question1, valid.question2)).best("accuracy")
        chosen = "best accuracy on validation pairs"
    matrix = metrics.confusion_matrix(test.is_duplicate, score(test.question1, test.question2) > threshold)
    real = {k: round(float(v), 4) for k, v in metrics.summarize(matrix).items()}
    out = {"system": name, "threshold": round(float(threshold), 4), "threshold_from": chosen, "test_pairs": real}
    for set_name, pairs in sets.items():
        judged = score([p[1] for p in pairs], [p[2] for p in pairs]) > threshold
        kinds = sorted({p[0] for p in pairs})
        out[set_name] = {"judged_duplicate": round(float(judged.mean()), 4), "pairs": len(pairs), "by_kind": {
            k: round(float(judged[[p[0] == k for p in pairs]].mean()), 4) for k in kinds}}
    return out


def search_flags(model, corpus: list[str], pairs: list[tuple[str, str, str]], mine: bool) -> dict:
    """Search each swapped question over the corpus: is its original sibling flagged?"""
    from qdup.search.index import Index

    stored = set(corpus)
    queries = [(kind, original, swapped) for kind, original, swapped in pairs if swapped not in stored]
    with tempfile.TemporaryDirectory() as tmp:
        index = Index.build(model, None, corpus, Path(tmp) / "index")
        results = index.search(model, [q[2] for q in queries], k=10)
        flagged_sibling = first_is_sibling = any_flag = 0
        for (kind, original, _), result in zip(queries, results):
            flags = [m["likely_duplicate"] for m in result.matches(model)]  # as qdup search flags them
            any_flag += any(flags)
            flagged_sibling += any(f and q == original for f, q in zip(flags, result.questions))
            first_is_sibling += bool(result.questions) and result.questions[0] == original
        out = {"queries": len(queries), "sibling_flagged": round(flagged_sibling / len(queries), 4),
               "sibling_ranked_first": round(first_is_sibling / len(queries), 4),
               "any_flag": round(any_flag / len(queries), 4)}
        if mine:
            out["mined_groups"] = mined_siblings(index, model)
            out["mined_groups_without_pair_verdict"] = mined_siblings(index, model, verdict=False)
    return out


def mined_siblings(index, model, verdict: bool = True) -> dict:
    """Groups as ``qdup mine --groups`` makes them (``--no-pair-verdict`` unless ``verdict``),
    and the template siblings inside them."""
    from qdup.mining.groups import group_records, neighbours
    from qdup.mining.output import DEFAULT_MINE_THRESHOLD

    threshold = model.search_threshold or DEFAULT_MINE_THRESHOLD
    started = time.perf_counter()
    groups = group_records(neighbours(index, 19, threshold, model=model, verdict=verdict))  # --max-group-size 20
    with_siblings, sibling_pairs = 0, 0
    for group in groups:
        canonical = group["canonical"]["question"]
        found = sum(template_siblings(canonical, m["question"]) for m in group["members"])
        with_siblings += found > 0
        sibling_pairs += found
    return {"threshold": round(float(threshold), 4), "seconds": round(time.perf_counter() - started, 1),
            "groups": len(groups), "questions_in_groups": sum(g["size"] for g in groups),
            "groups_of_10_or_more": sum(g["size"] >= 10 for g in groups),
            "groups_with_template_siblings": with_siblings, "template_sibling_pairs": sibling_pairs}


ENTITY_WORDS = {w.lower() for names in KINDS.values() for n in names for w in tokenize(n)}


def template_siblings(a: str, b: str) -> bool:
    """Same words but one position, where both words are listed entities or numbers."""
    x, y = [w.lower() for w in tokenize(a)], [w.lower() for w in tokenize(b)]
    if len(x) != len(y):
        return False
    differ = [(u, v) for u, v in zip(x, y) if u != v]
    return len(differ) == 1 and all(w in ENTITY_WORDS or w.isdigit() for w in differ[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                        help="a model to judge (repeatable; 'built-in=' for the built-in model)")
    parser.add_argument("--no-tfidf", action="store_true", help="skip the TF-IDF baseline")
    parser.add_argument("--search", action="store_true", help="also the search flag over the file's questions")
    parser.add_argument("--mine", action="store_true", help="with --search: also mined groups")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--name", default="contrast", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    split = qdup.reference_split(pairs)
    sets = {name: contrast_pairs(p.question1 + p.question2)
            for name, p in (("validation_contrast", split.validation), ("test_contrast", split.test))}
    for name, made in sets.items():
        print(f"{name}: {len(made)} swapped pairs ({', '.join(f'{k} {n}' for k, n in sorted(Counter(p[0] for p in made).items()))})")
    systems = [] if args.no_tfidf else [("TF-IDF char 2-5-grams", tfidf_system(split), None)]
    for spec in args.model or ["built-in="]:
        name, _, path = spec.partition("=")
        model = qdup.load(path or None)
        calibrated = "calibration" in model.info
        systems.append((name or "built-in", model.score, model.threshold if calibrated else None, model))
    results = []
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if tokenize(q)})
    for name, score, threshold, *model in systems:
        row = judge(name, score, threshold, split, sets)
        if args.search and model:
            row["search"] = search_flags(model[0], corpus, sets["test_contrast"], args.mine)
        results.append(row)
        real, test = row["test_pairs"], row["test_contrast"]
        print(f"{name:28s} test contrast judged duplicate {test['judged_duplicate']:.3f} "
              f"(validation {row['validation_contrast']['judged_duplicate']:.3f}) at threshold {row['threshold']:.4f}; "
              f"test pairs accuracy {real['accuracy']:.3f} precision {real['precision']:.3f} recall {real['recall']:.3f}",
              flush=True)
        print("    by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in test["by_kind"].items()))
        if "search" in row:
            print(f"    search: sibling flagged for {row['search']['sibling_flagged']:.3f} of "
                  f"{row['search']['queries']} swapped queries (ranked first {row['search']['sibling_ranked_first']:.3f})")
            if "mined_groups" in row["search"]:
                print(f"    mined groups: {row['search']['mined_groups']}")
                print(f"    without the pair verdict: {row['search']['mined_groups_without_pair_verdict']}")
    write_results(args.name, {"command": "python benchmarks/contrast.py " + " ".join(sys.argv[1:]),
                              "sets": {k: {"pairs": len(v), "by_kind": dict(Counter(p[0] for p in v))}
                                       for k, v in sets.items()},
                              "systems": results, "machine_state": machine()})


if __name__ == "__main__":
    main()
