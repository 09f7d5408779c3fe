"""``serve``: a translation service over HTTP, with the alignment viewer as its page.

Built on FastAPI and uvicorn: request bodies are validated by typed models (wrong types are
422s with the field named), the OpenAPI description and a docs page come for free
(``/docs``), and uvicorn finishes in-flight requests on SIGTERM/SIGINT before it exits.
uvicorn runs on uvloop and httptools when they are installed (``requirements.txt`` pins
them), which parse and schedule requests in C rather than in pure Python (h11, asyncio).

One worker thread owns the model. Requests put their sentences in a queue; the worker takes
what arrives within ``max_wait_ms`` of the first one (up to ``decode.batch_size`` sentences)
and translates it in one model call per decoding setting, so concurrent requests share
calls (``/health`` counts them). A full queue answers 503 with ``Retry-After``. A waiting
request holds no thread: the worker sets its asyncio event through the event loop.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from translator.core.errors import UserError

MAX_SENTENCES = 64  # per request
MAX_CHARACTERS = 2000  # per sentence
MAX_BODY_BYTES = 256 * 1024
MAX_QUEUE = 1024  # sentences waiting
MAX_WAIT_MS = 5.0  # how long a batch's first request waits for others
RETRY_AFTER_S = 1


class TranslateRequest(BaseModel):
    """The body of ``POST /translate``."""

    text: list[str] = Field(description="sentences to translate, in order")
    beam_size: int | None = Field(None, ge=1, le=16, description="beam width (1 = greedy)")
    attention: bool = Field(False, description="include each attention matrix")


@dataclass
class Job:
    """One request's sentences and options, and where its translations go."""

    sentences: list[str]
    beam_size: int
    on_done: Callable[[], None] = lambda: None  # called from the worker once results are in
    results: list | None = None
    error: str | None = None

    def finish(self) -> None:
        with contextlib.suppress(RuntimeError):  # its event loop has closed: nobody waits
            self.on_done()


class Batcher:
    """The worker thread that owns the model and translates queued jobs in batches."""

    def __init__(self, run, max_wait_ms: float = MAX_WAIT_MS, max_queue: int = MAX_QUEUE):
        self.run, self.max_wait_s, self.max_queue = run, max_wait_ms / 1000, max_queue
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.waiting = 0  # sentences queued, not yet taken
        self.lock = threading.Lock()
        self.model_calls = self.sentences_done = self.largest_batch = 0
        self.thread = threading.Thread(target=self.work, name="translator-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> bool:
        """Queue a job; False (and nothing queued) when the queue is full."""
        with self.lock:
            if self.waiting + len(job.sentences) > self.max_queue:
                return False
            self.waiting += len(job.sentences)
        self.jobs.put(job)
        return True

    def stop(self) -> None:
        """Finish what is queued, then end the worker."""
        self.jobs.put(None)
        self.thread.join()

    def work(self) -> None:
        from translator.decoding.decode import translate_sentences

        limit = self.run.config.decode.batch_size
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch, size, deadline = (
                [first],
                len(first.sentences),
                time.monotonic() + self.max_wait_s,
            )
            stop = False
            while size < limit and not stop:
                try:
                    job = self.jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                else:
                    batch.append(job)
                    size += len(job.sentences)
            with self.lock:
                self.waiting -= size
            for beam_size in sorted({job.beam_size for job in batch}):
                group = [job for job in batch if job.beam_size == beam_size]
                sentences = [s for job in group for s in job.sentences]
                run = self.run
                if beam_size != run.options.beam_size:
                    run = _with_options(run, run.options.replace(beam_size=beam_size))
                try:
                    results = translate_sentences(run, sentences, warn=lambda _: None)
                except Exception as error:  # one bad batch must not take the worker down
                    for job in group:
                        job.error = f"translation failed: {error.__class__.__name__}"
                        job.finish()
                    continue
                self.model_calls += 1
                self.sentences_done += len(sentences)
                self.largest_batch = max(self.largest_batch, len(sentences))
                start = 0
                for job in group:
                    job.results = results[start : start + len(job.sentences)]
                    start += len(job.sentences)
                    job.finish()
            if stop:
                return


def _with_options(run, options):
    from dataclasses import replace

    return replace(run, options=options)


def create_app(run, *, max_wait_ms: float = MAX_WAIT_MS, max_queue: int = MAX_QUEUE):
    """The FastAPI application serving ``run`` (a loaded ``rundir.Run``)."""
    import asyncio
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    from translator.core import backends

    batcher: Batcher | None = None

    @asynccontextmanager
    async def lifespan(app):
        nonlocal batcher
        batcher = Batcher(run, max_wait_ms, max_queue)
        yield
        batcher.stop()  # in-flight requests were answered before uvicorn got here

    app = FastAPI(
        title="translator",
        summary=f"{run.config.data.source_lang} -> "
        f"{run.config.data.target_lang} translation with attention",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        errors = error.errors()
        status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
        detail = [
            {"field": ".".join(map(str, e.get("loc", ())[1:])), "problem": e.get("msg")}
            for e in errors
        ]
        return JSONResponse({"error": "invalid request", "detail": detail}, status_code=status)

    app.add_middleware(BodyLimit)

    @app.post("/translate")
    async def translate(body: TranslateRequest):
        """Translate ``text``; each result has its tokens and, if asked, its attention."""
        if len(body.text) > MAX_SENTENCES:
            return JSONResponse(
                {"error": f"{len(body.text)} sentences; at most {MAX_SENTENCES} per request"},
                status_code=413,
            )
        if any(len(s) > MAX_CHARACTERS for s in body.text):
            return JSONResponse(
                {"error": f"a sentence is over {MAX_CHARACTERS} characters"}, status_code=413
            )
        loop, answered = asyncio.get_running_loop(), asyncio.Event()
        job = Job(
            list(body.text),
            body.beam_size or run.options.beam_size,
            on_done=lambda: loop.call_soon_threadsafe(answered.set),
        )
        if not batcher.submit(job):
            return JSONResponse(
                {"error": "the translation queue is full; retry shortly"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        await answered.wait()
        if job.error:
            return JSONResponse({"error": job.error}, status_code=500)
        items = [
            result.to_dict(sentence, attention=body.attention)
            for sentence, result in zip(job.sentences, job.results)
        ]
        return {"translations": items, "beam_size": job.beam_size}

    @app.get("/health")
    async def health():
        """The model, its checkpoint and backend, and how requests were batched."""
        return {
            "status": "ok",
            "run": str(run.directory),
            "checkpoint": run.checkpoint.name,
            "backend": backends.name(),
            "source_lang": run.config.data.source_lang,
            "target_lang": run.config.data.target_lang,
            "beam_size": run.options.beam_size,
            "model_calls": batcher.model_calls,
            "sentences": batcher.sentences_done,
            "largest_batch": batcher.largest_batch,
            "queued": batcher.waiting,
        }

    @app.get("/", response_class=HTMLResponse)
    async def page():
        """The alignment viewer: type sentences, see translations and attention."""
        from translator.serving.viewer import viewer_html

        return viewer_html(
            title=f"translator: {run.config.data.source_lang} → {run.config.data.target_lang}"
        )

    return app


class BodyLimit:
    """413 for a body declared over ``MAX_BODY_BYTES``, before it is read.

    Plain ASGI rather than ``@app.middleware("http")``, which wraps every request in an extra
    task and a streamed response.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                from fastapi.responses import JSONResponse

                response = JSONResponse(
                    {"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413
                )
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def check_port(host: str, port: int) -> None:
    """A one-line error, before loading anything, when the address cannot be listened on."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(
                f"cannot listen on {host}:{port} ({error.strerror}); the port is in use "
                "or not allowed: choose another with --port"
            ) from None


def serve(
    run_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_wait_ms: float = MAX_WAIT_MS,
    max_queue: int = MAX_QUEUE,
    beam_size: int | None = None,
    shortlist: int | None = None,
) -> None:
    """Load the run and serve it until SIGTERM or SIGINT (then exit 0)."""
    import uvicorn

    from translator.decoding.decode import translate_run
    from translator.training.rundir import load_run

    check_port(host, port)
    run = load_run(run_dir, beam_size=beam_size, shortlist=shortlist)
    run.lexicon()  # read (or, for an older run, learned) now, not during the first request
    translate_run(run, [["."]])  # and the decoder traced (1-2 s): the first answer is as quick
    app = create_app(run, max_wait_ms=max_wait_ms, max_queue=max_queue)
    print(
        f"serving {run.directory} ({run.checkpoint.name}) on http://{host}:{port}/  "
        f"(API docs: http://{host}:{port}/docs)",
        flush=True,
    )
    # uvicorn answers the requests in flight on SIGTERM/SIGINT, then raises the signal again
    # for the handler it found: a no-op here, so that a clean shutdown exits with status 0.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30)
    print("stopped: every request was answered", flush=True)
