"""HTTP service: pair similarity, search, adding/getting/deleting questions, and a search-as-you-type page.

The routes and how errors are answered; the bodies are in :mod:`qdup.service.schemas`,
the checks every request passes first in :mod:`qdup.service.middleware`. Every bad request
gets a 4xx answer with a JSON body ``{"error": "<one line>"}``; the service never answers
500 to input, and never dies on it. Handlers that encode or search are plain ``def``:
FastAPI runs them in its thread pool, so many clients are served at once (torch and BLAS
release the GIL). Writes follow :mod:`qdup.service.access`.

Example::

    >>> app = create_app(qdup.load("models/quora"), Index.load("my-index"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Annotated, Optional

from fastapi import FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from ..errors import ConfigError, DataError, QdupError, QuestionError, UnknownIdError
from ..evaluation.pairs import predict
from ..scoring.thresholds import likely_duplicates
from ..search.decisions import decide, record
from ..search.filters import Filter, combine, parse_filter
from .access import Access
from .middleware import MAX_BODY_BYTES, add_request_checks
from .schemas import (ERRORS, AddedOut, DecisionIn, DecisionOut, DeletedOut, PairIn, QuestionIn, QuestionPut,
                      SearchIn, SearchOut, SimilarityOut, StoredOut, UpdatedOut, error_response)


def create_app(model, index=None, max_body_bytes: int = MAX_BODY_BYTES, access: Access = Access(),
               cors_origins: tuple[str, ...] = (), allowed_hosts: list[str] | None = None,
               where: Filter | None = None) -> FastAPI:
    """The FastAPI application; ``index`` None serves /similarity only.

    ``access``: the write policy (default: open). ``allowed_hosts``: Host headers to accept
    (None: any; ``qdup serve`` passes the bind address and the loopback names).
    ``cors_origins``: web origins whose pages may call the API from a browser. ``where``:
    a filter every search applies (say ``status!=deleted`` on a public server), besides
    the request's own ``filter``.

    Example::

        >>> client = fastapi.testclient.TestClient(create_app(model, index))            # doctest: +SKIP
        >>> client.post("/search", json={"question": "How to learn Python?", "k": 3}).json()  # doctest: +SKIP
        {'matches': [{'id': '1', 'question': 'How do I learn Python?', 'score': 0.93, ...}, ...]}
    """
    # FastAPIOffline: /docs and /redoc load Swagger UI / ReDoc from the package, not a CDN.
    app = FastAPIOffline(title="qdup", version="1", summary="Find duplicate questions", responses=ERRORS)
    _add_error_handlers(app)
    _add_read_routes(app, model, index, access, where)
    _add_write_routes(app, model, index, access)
    add_request_checks(app, max_body_bytes, cors_origins, allowed_hosts)
    return app


def _validation_message(error: RequestValidationError) -> str:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = first.get("msg", "invalid value").replace("String should", "should")
    return f"{where}: {message}" if where else message


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return error_response(422, _validation_message(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(QdupError)
    async def library_error(request: Request, error: QdupError):
        invalid = isinstance(error, (QuestionError, ConfigError))  # the request's values, not the state
        status = 404 if isinstance(error, UnknownIdError) else 422 if invalid else 409 if isinstance(error, DataError) \
            else 400
        return error_response(status, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):  # a bug, never input: log it, answer in JSON
        logging.getLogger("qdup.service").exception("unexpected error")
        return error_response(500, "internal error")


def _need_index(index):  # the /similarity-only server (no --index) refuses the rest
    if index is None:
        raise HTTPException(409, "this server has no index (start it with --index)")
    return index


def _writable(index, access: Access, authorization: str | None):
    refused = access.check_write(authorization)
    if refused:
        raise HTTPException(*refused)
    return _need_index(index)


def _canonical(index, metadata: dict) -> dict | None:
    """The stored question a closed duplicate points at (its ``duplicate_of``), if any."""
    target = metadata.get("duplicate_of")
    if target is None:
        return None
    try:
        stored = index.get(str(target))
    except UnknownIdError:
        return None
    return {"id": stored.id, "question": stored.question, "metadata": stored.metadata}


def _add_read_routes(app: FastAPI, model, index, access: Access, where: Filter | None) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text("utf-8"))

    @app.get("/health")
    def health() -> dict:
        """Liveness, the model fingerprint and thresholds, the number of stored questions, the write mode."""
        return {"status": "ok", "model": model.fingerprint[:12], "threshold": model.threshold,
                "search_threshold": getattr(model, "search_threshold", None),
                "search_floor": getattr(model, "search_floor", None),
                "questions": None if index is None else len(index), "writes": access.mode}

    @app.post("/similarity", response_model=SimilarityOut)
    def similarity(body: PairIn) -> dict:
        """Cosine similarity of two questions and the duplicate verdict at the model's threshold."""
        is_duplicate, score = predict(model, body.question1, body.question2)
        return {"similarity": score, "is_duplicate": is_duplicate, "threshold": model.threshold}

    @app.post("/search", response_model=SearchOut)
    def search(body: SearchIn) -> dict:
        """The k stored questions most similar to `question`, best first, with their metadata;
        only those passing `filter` and scoring at least `min_score` (default: the model's floor)."""
        searched = _need_index(index)
        floor = body.min_score if "min_score" in body.model_fields_set else getattr(model, "search_floor", None)
        [result] = searched.search(model, [body.question], body.k, body.threshold,
                                   where=combine(where, parse_filter(body.filter)), min_score=floor)
        likely = likely_duplicates(model, result.scores)
        return {"min_score": floor, "matches": [
            {"id": i, "question": q, "score": s, "likely_duplicate": f, "metadata": m,
             "canonical": _canonical(searched, m)}
            for i, q, s, f, m in zip(result.ids, result.questions, result.scores, likely, result.metadata)]}

    @app.get("/questions/{question_id}", response_model=StoredOut, responses={404: ERRORS[404]})
    def get_question(question_id: str) -> dict:
        """One stored question with its metadata; 404 when the id is unknown."""
        stored = _need_index(index).get(question_id)
        return {"id": stored.id, "question": stored.question, "metadata": stored.metadata}


def _add_write_routes(app: FastAPI, model, index, access: Access) -> None:
    @app.post("/questions", status_code=201, response_model=AddedOut)
    def add_question(body: QuestionIn, authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Store a question (persisted atomically); 409 when the id is already taken."""
        writable = _writable(index, access, authorization)
        [new_id] = writable.add(model, [body.question], None if body.id is None else [body.id],
                                None if body.metadata is None else [body.metadata])
        return {"id": new_id, "question": body.question, "questions": len(writable)}

    @app.put("/questions/{question_id}", response_model=UpdatedOut)
    def put_question(question_id: str, body: QuestionPut, response: Response,
                     authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Replace a stored question's text and metadata (persisted atomically); a new id is added (201)."""
        writable = _writable(index, access, authorization)
        [replaced] = writable.update(model, [question_id], [body.question],
                                     None if body.metadata is None else [body.metadata])
        response.status_code = 200 if replaced else 201
        return {"id": question_id.strip(), "question": body.question, "replaced": replaced, "questions": len(writable)}

    @app.post("/decisions", status_code=201, response_model=DecisionOut, responses={404: ERRORS[404]})
    def add_decision(body: DecisionIn, authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Record a moderator's verdict: is stored question `match_id` a duplicate of `query_id`
        (a stored question) or of the text `query`? Kept in the index folder (qdup refit learns from it)."""
        writable = _writable(index, access, authorization)
        decision = decide(writable, body.match_id, body.duplicate, query=body.query, query_id=body.query_id,
                          moderator=body.moderator)
        return {**decision.to_json(), "decisions": record(writable.path, [decision])}

    @app.delete("/questions/{question_id}", response_model=DeletedOut, responses={404: ERRORS[404]})
    def delete_question(question_id: str, authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Remove a stored question (persisted atomically); 404 when the id is unknown."""
        writable = _writable(index, access, authorization)
        writable.remove([question_id])
        return {"id": question_id, "questions": len(writable)}
