"""HTTP service: pair similarity, search, adding/getting/deleting questions, and a search-as-you-type page.

Every bad request gets a 4xx answer with a JSON body ``{"error": "<one line>"}``; the
service never answers 500 to input, and never dies on it. Handlers that encode or
search are plain ``def``: FastAPI runs them in its thread pool, so many clients are
served at once (torch and BLAS release the GIL). Writes follow :mod:`qdup.service.access`.

Example::

    >>> app = create_app(qdup.load("models/quora"), Index.load("my-index"))  # doctest: +SKIP
    >>> serve(model, index, port=8000)                                        # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Callable, Optional

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import ConfigError, DataError, QdupError, QuestionError, UnknownIdError
from ..evaluation.pairs import predict
from ..evaluation.search_calibration import likely_duplicates
from .access import Access

MAX_BODY_BYTES = 64 * 1024
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
    k: int = Field(10, ge=1, le=MAX_K)
    threshold: Optional[float] = None  # checked by the library, as everywhere


class ErrorOut(BaseModel):
    error: str


ERRORS = {code: {"model": ErrorOut, "description": text} for code, text in [
    (401, "Write without the right bearer token"), (403, "Write to a read-only server"),
    (404, "No question with this id"),
    (409, "Conflict: id already taken, or no index loaded"), (413, "Request body too large"),
    (422, "Invalid request: the one-line reason is in `error`"),
]}


class Match(BaseModel):
    id: str
    question: str
    score: float
    likely_duplicate: bool = Field(description="score passes the model's calibrated search threshold")
    metadata: dict = Field(default_factory=dict, description="stored with the question: url, title...")


class SearchOut(BaseModel):
    matches: list[Match]


class StoredOut(BaseModel):
    id: str
    question: str
    metadata: dict


class DeletedOut(BaseModel):
    id: str
    questions: int


class SimilarityOut(BaseModel):
    similarity: float
    is_duplicate: bool
    threshold: float


class AddedOut(BaseModel):
    id: str
    question: str
    questions: int


class QuestionIn(_Body):
    question: Question
    id: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = None
    metadata: Optional[dict] = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(error: RequestValidationError) -> str:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = first.get("msg", "invalid value").replace("String should", "should")
    return f"{where}: {message}" if where else message


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (declared or streamed) with 413."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body larger than {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            return await _error(400, "bad Content-Length header")(scope, receive, send)
        if length is not None and int(length) > self.max_bytes:
            return await _error(413, too_large)(scope, receive, send)
        # Read the whole (bounded) body first, so a chunked upload cannot exceed the limit.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await _error(413, too_large)(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def create_app(model, index=None, max_body_bytes: int = MAX_BODY_BYTES, access: Access = Access(),
               cors_origins: tuple[str, ...] = (), allowed_hosts: list[str] | None = None) -> FastAPI:
    """The FastAPI application; ``index`` None serves /similarity only.

    ``access``: the write policy (default: open). ``allowed_hosts``: Host headers to accept
    (None: any; ``qdup serve`` passes the bind address and the loopback names).
    ``cors_origins``: web origins whose pages may call the API from a browser.

    Example::

        >>> client = fastapi.testclient.TestClient(create_app(model, index))            # doctest: +SKIP
        >>> client.post("/search", json={"question": "How to learn Python?", "k": 3}).json()  # doctest: +SKIP
        {'matches': [{'id': '1', 'question': 'How do I learn Python?', 'score': 0.93, ...}, ...]}
    """
    # FastAPIOffline: /docs and /redoc load Swagger UI / ReDoc from the package, not a CDN.
    app = FastAPIOffline(title="qdup", version="1", summary="Find duplicate questions", responses=ERRORS)
    _add_error_handlers(app)
    _add_routes(app, model, index, access)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    if allowed_hosts is not None:  # outermost: a foreign Host header never reaches a route
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return _error(422, _validation_message(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(QdupError)
    async def library_error(request: Request, error: QdupError):
        invalid = isinstance(error, (QuestionError, ConfigError))  # the request's values, not the state
        status = 404 if isinstance(error, UnknownIdError) else 422 if invalid else 409 if isinstance(error, DataError) \
            else 400
        return _error(status, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):  # a bug, never input: log it, answer in JSON
        import logging
        logging.getLogger("qdup.service").exception("unexpected error")
        return _error(500, "internal error")


def _add_routes(app: FastAPI, model, index, access: Access) -> None:
    def need_index():
        if index is None:
            raise HTTPException(409, "this server has no index (start it with --index)")
        return index

    def may_write(authorization: str | None):
        refused = access.check_write(authorization)
        if refused:
            raise HTTPException(*refused)
        return need_index()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text("utf-8"))

    @app.get("/health")
    def health() -> dict:
        """Liveness, the model fingerprint and thresholds, the number of stored questions, the write mode."""
        return {"status": "ok", "model": model.fingerprint[:12], "threshold": model.threshold,
                "search_threshold": getattr(model, "search_threshold", None),
                "questions": None if index is None else len(index), "writes": access.mode}

    @app.post("/similarity", response_model=SimilarityOut)
    def similarity(body: PairIn) -> dict:
        """Cosine similarity of two questions and the duplicate verdict at the model's threshold."""
        is_duplicate, score = predict(model, body.question1, body.question2)
        return {"similarity": score, "is_duplicate": is_duplicate, "threshold": model.threshold}

    @app.post("/search", response_model=SearchOut)
    def search(body: SearchIn) -> dict:
        """The k stored questions most similar to `question`, best first, with their metadata."""
        [result] = need_index().search(model, [body.question], body.k, body.threshold)
        likely = likely_duplicates(model, result.scores)
        return {"matches": [{"id": i, "question": q, "score": s, "likely_duplicate": f, "metadata": m}
                            for i, q, s, f, m in zip(result.ids, result.questions, result.scores, likely,
                                                     result.metadata)]}

    @app.get("/questions/{question_id}", response_model=StoredOut, responses={404: ERRORS[404]})
    def get_question(question_id: str) -> dict:
        """One stored question with its metadata; 404 when the id is unknown."""
        stored = need_index().get(question_id)
        return {"id": stored.id, "question": stored.question, "metadata": stored.metadata}

    @app.post("/questions", status_code=201, response_model=AddedOut)
    def add_question(body: QuestionIn, authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Store a question (persisted atomically); 409 when the id is already taken."""
        writable = may_write(authorization)
        [new_id] = writable.add(model, [body.question], None if body.id is None else [body.id],
                                None if body.metadata is None else [body.metadata])
        return {"id": new_id, "question": body.question, "questions": len(writable)}

    @app.delete("/questions/{question_id}", response_model=DeletedOut, responses={404: ERRORS[404]})
    def delete_question(question_id: str, authorization: Annotated[Optional[str], Header()] = None) -> dict:
        """Remove a stored question (persisted atomically); 404 when the id is unknown."""
        writable = may_write(authorization)
        writable.remove([question_id])
        return {"id": question_id, "questions": len(writable)}


def serve(model, index, host: str = "127.0.0.1", port: int = 8000, access: Access = Access(),
          cors_origins: tuple[str, ...] = (), allowed_hosts: list[str] | None = None,
          on_listening: Callable[[], None] | None = None) -> None:
    """Run the service with uvicorn until Ctrl-C; ``on_listening`` runs once the port is bound
    (the CLI prints its start-up lines there, so a busy port prints only the error)."""
    import uvicorn

    from ..util.threads import use_threads

    sock = listening_socket(host, port)  # first: a busy port changes nothing in this process
    app = create_app(model, index, access=access, cors_origins=cors_origins, allowed_hosts=allowed_hosts)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    # One request encodes and searches one short question: extra intra-op threads (torch,
    # BLAS) only add overhead, and with many requests in the thread pool at once they
    # spin against each other (measured: a 50k exact search takes 12 ms with BLAS threads
    # vs 1 ms without). Concurrency comes from the pool instead: one thread per request.
    restore = use_threads(1)
    try:
        if on_listening is not None:
            on_listening()
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        restore()  # an in-process caller (tests, notebooks) gets its thread settings back


def listening_socket(host: str, port: int):
    """Bind the port here, so a busy port is one line (not uvicorn's log and exit code 3)."""
    import os
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason})") from None

