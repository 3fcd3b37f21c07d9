"""One rule for a question that a user asks or stores (predict, search, index, service).

A question must be text with at least one word once standardised (ASCII punctuation
deleted, split on whitespace): "", "   " and "???" are all empty, and scoring them would
only compare two [UNK] tokens. It must also be valid Unicode: a lone surrogate (undecodable
bytes from a terminal, or "\\udc80" in JSON) cannot be stored or printed as UTF-8.
Training and evaluation data keep their empty questions, as the reference does.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Iterable, Sequence

from ..errors import ConfigError, QuestionError
from ..text.vocabulary import tokenize


def check_questions(questions: Sequence[str]) -> list[str]:
    """The questions with surrounding whitespace removed, or a one-line :class:`QuestionError`
    naming the question by its place ("question 2 ..."), as a pair or a batch needs.

    >>> check_questions([" How do I learn Python? "])
    ['How do I learn Python?']
    >>> check_questions(["fine?", "???"])
    Traceback (most recent call last):
    ...
    qdup.errors.QuestionError: question 2 is empty (no words once punctuation is removed)
    """
    if isinstance(questions, str):
        raise ConfigError("questions must be a list of strings, not one string")
    return [_checked(question, f"question {n}") for n, question in enumerate(_listed(questions, "questions"), start=1)]


def check_question(question: str) -> str:
    """One question asked on its own (a search box, one question to add), stripped, or a
    one-line :class:`QuestionError` that gives it no number the asker never saw.

    >>> check_question("???")
    Traceback (most recent call last):
    ...
    qdup.errors.QuestionError: the question is empty (no words once punctuation is removed)
    """
    return _checked(question, "the question")


def _checked(question: str, name: str) -> str:
    _check_text(question, name)
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError(f"{name} is not valid Unicode text (undecodable bytes?); use UTF-8") from None
    if is_empty(question):
        raise QuestionError(f"{name} is empty (no words once punctuation is removed)")
    return question.strip()


def check_encode(texts: Iterable[str], batch_size: int) -> list[str]:
    """What :meth:`qdup.QdupModel.encode` takes: texts (empty ones too; any iterable, read once
    here: a generator checked and then encoded gave no vector) and a positive ``batch_size``
    (0 made the batching loop forever), as a list, or a one-line error naming the value.

    >>> check_encode(["fine?", None], 512)
    Traceback (most recent call last):
    ...
    qdup.errors.QuestionError: question 2 is not text (got NoneType)
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return _texts(_listed(texts, "texts"))


def _texts(texts: list, of: str = "") -> list:
    """``texts``, or a :class:`QuestionError` naming the first that is not text by its place
    ("question 2"; ``of``: its list's name, "question 1 of questions2")."""
    for n, text in enumerate(texts, start=1):
        _check_text(text, f"question {n}{f' of {of}' if of else ''}")
    return texts


def _listed(values, name: str) -> list:
    """``values`` read once into a list; a mapping or a set is refused (a dict's keys were
    encoded, a set's in an order the caller never chose), as is what is no collection at all.

    >>> _listed({"How?": 1}, "texts")
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: texts must be a list of strings, got dict
    """
    if isinstance(values, (Mapping, Set)) or not isinstance(values, Iterable):
        raise ConfigError(f"{name} must be a list of strings, got {type(values).__name__}")
    return list(values)


def _check_text(value, name: str) -> None:
    if not isinstance(value, str):
        raise QuestionError(f"{name} is not text (got {type(value).__name__})")


def check_pairs(questions1: Iterable[str], questions2: Iterable[str]) -> tuple[list[str], list[str]]:
    """Two aligned lists of questions to score (any iterables, read once), or a one-line
    :class:`~qdup.errors.ConfigError` (two strings would be scored character by character),
    or a :class:`QuestionError` naming what is not text by its list ("question 1 of questions2").

    >>> check_pairs("How?", "Why?")
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: questions1 and questions2 must be lists, not strings (qdup.predict scores one pair)
    """
    if isinstance(questions1, str) or isinstance(questions2, str):
        raise ConfigError("questions1 and questions2 must be lists, not strings (qdup.predict scores one pair)")
    questions1, questions2 = _listed(questions1, "questions1"), _listed(questions2, "questions2")
    if len(questions1) != len(questions2):
        raise ConfigError("question lists must have the same length")
    return _texts(questions1, "questions1"), _texts(questions2, "questions2")  # by its list, not across both


def is_empty(question: str) -> bool:
    """Whether ``question`` has no word once standardised ("", "   ", ".", "????").

    >>> is_empty("????"), is_empty("Why?")
    (True, False)
    """
    return not tokenize(question)
