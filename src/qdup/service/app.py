"""HTTP service: pair similarity, search, adding/getting/deleting questions, and a search-as-you-type page.

The routes and how errors are answered; the bodies are in :mod:`qdup.service.schemas`,
the checks every request passes first in :mod:`qdup.service.middleware`. Every bad request
gets a 4xx answer with a JSON body ``{"error": "<one line>"}``; the service never answers
500 to input, and never dies on it. Searches run in batches on a thread of their own and
writes one at a time on another (:mod:`qdup.service.work`): a burst of clients never
over-commits the cores, and a search never waits behind queued writes. The other handlers
are plain ``def`` (FastAPI's thread pool). Writes follow :mod:`qdup.service.access`.

Example::

    >>> app = create_app(qdup.load("models/quora"), Index.load("my-index"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from importlib import resources
from typing import Annotated, Optional

from fastapi import FastAPI, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from ..data.questions import check_question
from ..errors import ConfigError, DataError, InputError, QdupError, UnknownIdError
from ..evaluation.pairs import predict
from ..search.decisions import decide, record
from ..search.filters import Filter, combine, parse_filter
from .access import Access
from .docs import add_redoc, own_error_answers
from .middleware import MAX_BODY_BYTES, add_request_checks
from .schemas import (AddedOut, DecisionIn, DecisionOut, DeletedOut, PairIn, QuestionIn, QuestionPut, SearchIn,
                      SearchOut, SimilarityOut, StoredOut, UpdatedOut, error_response, errors)
from .work import ServiceWork

# Writes take `Authorization: Bearer <token>`; declared as a security scheme, so Swagger UI's
# "Authorize" sends it. Checked by the access policy, not here (a missing one is not always an error).
Bearer = Annotated[Optional[HTTPAuthorizationCredentials],
                   Security(HTTPBearer(auto_error=False, description="The write token (QDUP_TOKEN or --token-file)"))]


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
    work = ServiceWork(model, index)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        work.close()  # the write in flight and those queued finish before the server exits

    # FastAPIOffline: /docs loads Swagger UI from the package, not a CDN; /redoc is ours (docs.py).
    app = FastAPIOffline(title="qdup", version="1", summary="Find duplicate questions", redoc_url=None,
                         lifespan=lifespan)
    add_redoc(app)
    own_error_answers(app)
    _add_error_handlers(app)
    _add_read_routes(app, model, index, access, work, where)
    _add_write_routes(app, model, index, access, work)
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
        invalid = isinstance(error, (InputError, ConfigError))  # the request's values, not the state
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


def _writable(index, access: Access, credentials: HTTPAuthorizationCredentials | None):
    refused = access.check_write(None if credentials is None else f"{credentials.scheme} {credentials.credentials}")
    if refused:
        raise HTTPException(*refused)
    return _need_index(index)


def _visible(index, question_id: str, where: Filter | None):
    """The stored question, unless the server's own filter hides it (then, as for an unknown
    id, :class:`UnknownIdError`): a server started with ``--where status!=deleted`` never
    shows a deleted thread, whichever route asks."""
    stored = index.get(question_id)
    if where is not None and not where.passes(stored.metadata):
        raise UnknownIdError(f"id {question_id!r} is not in the index")
    return stored


def _canonical(index, metadata: dict, where: Filter | None) -> dict | None:
    """The stored question a closed duplicate points at (its ``duplicate_of``), if any."""
    target = metadata.get("duplicate_of")
    if target is None:
        return None
    try:
        stored = _visible(index, str(target), where)
    except UnknownIdError:
        return None
    return {"id": stored.id, "question": stored.question, "metadata": stored.metadata}


async def _canonicals(index, work: ServiceWork, metadata: list[dict], where: Filter | None) -> list[dict | None]:
    """Per match, the question it was closed as a duplicate of; looked up on a search thread
    (a Milvus index asks its server), and only when a match points at one."""
    if not any(m.get("duplicate_of") is not None for m in metadata):
        return [None] * len(metadata)
    return await work.read(lambda: [_canonical(index, m, where) for m in metadata])


def _add_read_routes(app: FastAPI, model, index, access: Access, work: ServiceWork, where: Filter | None) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text("utf-8"))

    @app.get("/health", responses=errors())
    def health() -> dict:
        """Liveness, the model fingerprint and thresholds, the number of stored questions, the write
        mode, and whether the index has been read into memory since start-up (``warm``)."""
        return {"status": "ok", "model": model.fingerprint[:12], "threshold": model.threshold,
                "search_threshold": getattr(model, "search_threshold", None),
                "search_floor": getattr(model, "search_floor", None),
                "questions": None if index is None else len(index), "writes": access.mode,
                "warm": None if index is None else work.warm.is_set()}

    @app.post("/similarity", response_model=SimilarityOut, responses=errors(413, 422))
    def similarity(body: PairIn) -> dict:
        """The model's score of two questions and the duplicate verdict at the model's threshold.

        For the built-in model the score is its pair re-ranker's probability that the two are
        duplicates (from their cosine and their words); for a cosine model, the cosine.
        `similarity` repeats `score` for clients written before it was named."""
        is_duplicate, score = predict(model, body.question1, body.question2)
        return {"score": score, "similarity": score, "is_duplicate": is_duplicate, "threshold": model.threshold}

    @app.post("/search", response_model=SearchOut, responses=errors(409, 413, 422))
    async def search(body: SearchIn) -> dict:
        """The k stored questions most similar to `question`, best first, with their metadata;
        only those passing `filter` and scoring at least `min_score` (default: the model's floor)."""
        _need_index(index)
        floor = body.min_score if "min_score" in body.model_fields_set else getattr(model, "search_floor", None)
        result = await work.search(body.question, k=body.k, threshold=body.threshold,
                                   where=combine(where, parse_filter(body.filter)), min_score=floor)
        canonical = await _canonicals(index, work, result.metadata, where)
        return {"min_score": floor, "matches": [{**match, "canonical": c}
                                                for match, c in zip(result.matches(model), canonical)]}

    # `:path`: an id may hold "/" (sent as a/b or a%2Fb, which the server decodes before routing).
    @app.get("/questions/{question_id:path}", response_model=StoredOut, responses=errors(404, 409))
    def get_question(question_id: str) -> dict:
        """One stored question with its metadata; 404 when the id is unknown (or the server's filter hides it)."""
        stored = _visible(_need_index(index), question_id.strip(), where)
        return {"id": stored.id, "question": stored.question, "metadata": stored.metadata}


def _add_write_routes(app: FastAPI, model, index, access: Access, work: ServiceWork) -> None:
    # Writes wait for the write thread as coroutines: a queue of them holds no thread a read needs.
    @app.post("/questions", status_code=201, response_model=AddedOut, responses=errors(401, 403, 409, 413, 422))
    async def add_question(body: QuestionIn, credentials: Bearer = None) -> dict:
        """Store a question (persisted atomically); 409 when the id is already taken."""
        writable = _writable(index, access, credentials)
        question = check_question(body.question)  # one question: "the question is empty", not "question 1"

        def add() -> tuple[list[str], int]:
            return writable.add(model, [question], None if body.id is None else [body.id],
                                None if body.metadata is None else [body.metadata]), len(writable)

        [new_id], count = await work.write(add)
        return {"id": new_id, "question": body.question, "questions": count}

    @app.put("/questions/{question_id:path}", response_model=UpdatedOut, responses=errors(401, 403, 409, 413, 422))
    async def put_question(question_id: str, body: QuestionPut, response: Response, credentials: Bearer = None) -> dict:
        """Replace a stored question's text and patch its metadata (persisted atomically): fields
        sent replace the stored ones, `null` removes one, fields left out are kept. A new id is added (201)."""
        writable = _writable(index, access, credentials)
        question = check_question(body.question)

        def update() -> tuple[list[bool], int]:
            return writable.update(model, [question_id], [question],
                                   None if body.metadata is None else [body.metadata]), len(writable)

        [replaced], count = await work.write(update)
        response.status_code = 200 if replaced else 201
        return {"id": question_id.strip(), "question": body.question, "replaced": replaced, "questions": count}

    @app.post("/decisions", status_code=201, response_model=DecisionOut,
              responses=errors(401, 403, 404, 409, 413, 422))
    async def add_decision(body: DecisionIn, credentials: Bearer = None) -> dict:
        """Record a moderator's verdict: is stored question `match_id` a duplicate of `query_id`
        (a stored question) or of the text `query`? Kept in the index folder (qdup refit learns from it)."""
        writable = _writable(index, access, credentials)

        def add() -> dict:
            decision = decide(writable, body.match_id, body.duplicate, query=body.query, query_id=body.query_id,
                              moderator=body.moderator)
            return {**decision.to_json(), "decisions": record(writable.path, [decision])}

        return await work.write(add)

    @app.delete("/questions/{question_id:path}", response_model=DeletedOut, responses=errors(401, 403, 404, 409))
    async def delete_question(question_id: str, credentials: Bearer = None) -> dict:
        """Remove a stored question (persisted atomically); 404 when the id is unknown."""
        writable = _writable(index, access, credentials)
        question_id = question_id.strip()  # ids are stored stripped, as PUT and POST store them
        count = await work.write(lambda: (writable.remove([question_id]), len(writable))[1])
        return {"id": question_id, "questions": count}
