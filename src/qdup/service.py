"""HTTP service: pair similarity, search, adding questions, and a search-as-you-type page.

Every bad request gets a 4xx answer with a JSON body ``{"error": "<one line>"}``; the
service never answers 500 to input, and never dies on it.

Example::

    >>> app = create_app(qdup.load("models/quora"), Index.load("my-index"))  # doctest: +SKIP
    >>> serve(model, index, port=8000)                                        # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException

from .errors import ConfigError, DataError, QdupError, QuestionError
from .evaluation import predict

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
    (409, "Conflict: id already taken, or no index loaded"), (413, "Request body too large"),
    (422, "Invalid request: the one-line reason is in `error`"),
]}


class Match(BaseModel):
    id: str
    question: str
    score: float


class SearchOut(BaseModel):
    matches: list[Match]


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


def create_app(model, index=None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI application; ``index`` None serves /similarity only.

    Example::

        >>> client = fastapi.testclient.TestClient(create_app(model, index))            # doctest: +SKIP
        >>> client.post("/search", json={"question": "How to learn Python?", "k": 3}).json()  # doctest: +SKIP
        {'matches': [{'id': '1', 'question': 'How do I learn Python?', 'score': 0.93}, ...]}
    """
    app = FastAPI(title="qdup", version="1", summary="Find duplicate questions", responses=ERRORS)
    _add_error_handlers(app)
    _add_routes(app, model, index)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
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
        status = 422 if invalid else 409 if isinstance(error, DataError) else 400
        return _error(status, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):  # a bug, never input: log it, answer in JSON
        import logging
        logging.getLogger("qdup.service").exception("unexpected error")
        return _error(500, "internal error")


def _add_routes(app: FastAPI, model, index) -> None:
    def need_index():
        if index is None:
            raise HTTPException(409, "this server has no index (start it with --index)")
        return index

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("qdup").joinpath("static/index.html").read_text("utf-8"))

    @app.get("/health")
    async def health() -> dict:
        """Liveness, the model fingerprint and threshold, and the number of stored questions."""
        return {"status": "ok", "model": model.fingerprint[:12], "threshold": model.threshold,
                "questions": None if index is None else len(index)}

    @app.post("/similarity", response_model=SimilarityOut)
    async def similarity(body: PairIn) -> dict:
        """Cosine similarity of two questions and the duplicate verdict at the model's threshold."""
        is_duplicate, score = predict(model, body.question1, body.question2)
        return {"similarity": score, "is_duplicate": is_duplicate, "threshold": model.threshold}

    @app.post("/search", response_model=SearchOut)
    async def search(body: SearchIn) -> dict:
        """The k stored questions most similar to `question`, best first."""
        [result] = need_index().search(model, [body.question], body.k, body.threshold)
        return {"matches": [{"id": i, "question": q, "score": s}
                            for i, q, s in zip(result.ids, result.questions, result.scores)]}

    @app.post("/questions", status_code=201, response_model=AddedOut)
    def add_question(body: QuestionIn) -> dict:  # plain def: the atomic write runs off the event loop
        """Store a question (persisted atomically); 409 when the id is already taken."""
        [new_id] = need_index().add(model, [body.question], None if body.id is None else [body.id])
        return {"id": new_id, "question": body.question, "questions": len(index)}


def serve(model, index, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service with uvicorn until Ctrl-C."""
    import uvicorn

    from .threads import use_threads

    sock = listening_socket(host, port)  # first: a busy port changes nothing in this process
    # One request encodes and searches one short question: extra intra-op threads (torch,
    # BLAS) only add overhead, and on a busy 2-core box they spin against each other
    # (measured: a 50k exact search takes 12 ms with BLAS threads vs 1 ms without).
    use_threads(1)
    config = uvicorn.Config(create_app(model, index), host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


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

