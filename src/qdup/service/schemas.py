"""What the HTTP service reads and answers: request and response bodies, and the one error body.

Every bad request gets a 4xx answer with a JSON body ``{"error": "<one line>"}``
(:func:`error_response`); :data:`ERRORS` documents those answers in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Optional, Union

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

MAX_QUESTION_CHARS = 1000  # a forum question, not a document; also bounds encoding time
MAX_K = 100

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored


class PairIn(_Body):
    question1: Question
    question2: Question


class SearchIn(_Body):
    question: Question
    k: StrictInt = Field(10, ge=1, le=MAX_K)  # strict: "10" and true are not numbers
    threshold: Optional[float] = None  # checked by the library, as everywhere
    min_score: Optional[float] = Field(None, description="hide matches scoring below it; omitted: the model's "
                                       "search floor (null: show every match)")
    filter: Optional[Union[str, list[str]]] = Field(None, description="conditions on forum fields that every "
                                                    "match passes, e.g. [\"status!=deleted\", \"category=python\"]")


class QuestionPut(_Body):
    question: Question
    metadata: Optional[dict] = None


class DecisionIn(_Body):
    match_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    duplicate: bool
    query: Optional[Question] = None
    query_id: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = None
    moderator: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]] = None


class QuestionIn(_Body):
    question: Question
    id: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = None
    metadata: Optional[dict] = None


class ErrorOut(BaseModel):
    error: str


ERRORS = {code: {"model": ErrorOut, "description": text} for code, text in [
    (401, "Write without the right bearer token"), (403, "Write to a read-only server"),
    (404, "No question with this id"),
    (409, "Conflict: id already taken, or no index loaded"), (413, "Request body too large"),
    (422, "Invalid request: the one-line reason is in `error`"),
]}


def errors(*codes: int) -> dict:
    """The error answers one route can give, for its OpenAPI ``responses``."""
    return {code: ERRORS[code] for code in codes}


def error_response(status: int, message: str) -> JSONResponse:
    """The answer to a bad request: ``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status)


class StoredOut(BaseModel):
    id: str
    question: str
    metadata: dict


class Match(BaseModel):
    id: str
    question: str
    score: float
    likely_duplicate: bool = Field(description="score passes the model's calibrated search threshold, and "
                                                "the model's pair scorer judges it a duplicate of the question")
    metadata: dict = Field(default_factory=dict, description="stored with the question: url, title...")
    canonical: Optional[StoredOut] = Field(None, description="the question this one was closed as a duplicate "
                                           "of (its duplicate_of), when stored")


class SearchOut(BaseModel):
    matches: list[Match]
    min_score: Optional[float] = Field(None, description="the floor applied (null: none)")


class UpdatedOut(BaseModel):
    id: str
    question: str
    replaced: bool = Field(description="false: the id was new and the question was added")
    questions: int


class DecisionOut(BaseModel):
    query: str
    match: str
    duplicate: bool
    time: str
    query_id: Optional[str] = None
    match_id: Optional[str] = None
    moderator: Optional[str] = None
    decisions: int = Field(description="decisions the index holds now")


class DeletedOut(BaseModel):
    id: str
    questions: int


class SimilarityOut(BaseModel):
    score: float = Field(description="the model's score of the pair, the one `threshold` applies to: for the "
                                     "built-in model its re-ranker's duplicate probability, for a cosine model the cosine")
    similarity: float = Field(description="the same value as `score` (its name before; kept for older clients)",
                              deprecated=True)
    is_duplicate: bool
    threshold: float


class AddedOut(BaseModel):
    id: str
    question: str
    questions: int
