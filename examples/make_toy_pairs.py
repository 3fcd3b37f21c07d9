"""Write ``toy_pairs.tsv``: hand-written question pairs in the Quora layout.

Duplicates ask the same thing in different words; non-duplicates share words but ask
different things. Ids follow the reference split: < 300000 train, >= 300000 test.

    python examples/make_toy_pairs.py examples/toy_pairs.tsv
"""

import random
import sys

GOALS = [
    "learn Python", "lose weight", "cook rice", "improve my English", "start a business",
    "get a job at Google", "learn to play guitar", "save money", "sleep better", "learn Java",
    "build muscle", "write a novel", "prepare for the GRE", "become a data scientist",
    "invest in stocks", "make friends in a new city", "stop procrastinating", "learn to swim",
    "grow tomatoes", "fix a slow laptop", "train a puppy", "learn calculus", "speak French",
    "get rid of acne", "become a pilot", "learn machine learning", "travel cheaply in Europe",
    "quit smoking", "run a marathon", "learn to draw", "pass a driving test", "bake bread",
    "meditate", "reduce stress", "learn SQL", "earn money online", "study for exams",
    "become more confident", "learn to code", "get a visa for Canada",
]
DUPLICATE_TEMPLATES = [
    "How do I {g}?", "What is the best way to {g}?", "How can I {g}?",
    "What are some tips to {g}?", "How should I {g}?", "What is the easiest way to {g}?",
    "How can I {g} fast?", "Any advice on how to {g}?",
]
OTHER_TEMPLATES = [
    "Why do people want to {g}?", "Is it too late to {g} at 40?", "How long does it take to {g}?",
    "How much does it cost to {g}?",
]


def rows():
    rng = random.Random(7)
    qid = 0
    for pair_id in list(range(0, 560)) + list(range(300000, 300160)):
        goal = rng.choice(GOALS)
        t1, t2 = rng.sample(DUPLICATE_TEMPLATES, 2)
        kind = rng.random()
        if kind < 0.5:
            q1, q2, label = t1.format(g=goal), t2.format(g=goal), 1
        elif kind < 0.8:  # same wording, different goal
            other = rng.choice([g for g in GOALS if g != goal])
            q1, q2, label = t1.format(g=goal), t1.format(g=other), 0
        else:  # same goal, a different question about it
            q1, q2, label = t1.format(g=goal), rng.choice(OTHER_TEMPLATES).format(g=goal), 0
        yield pair_id, qid + 1, qid + 2, q1, q2, label
        qid += 2


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as out:
        out.write("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n")
        for row in rows():
            out.write("\t".join(map(str, row)) + "\n")
