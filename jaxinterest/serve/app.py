"""The Starlette application: OpenAI routes over the continuous engine and the dynamic batcher,
limits, errors, health. Jobs the continuous engine takes (`continuous.accepts`: one sample,
no top-k, up to the output bucket's tokens, no alternatives or prompt scoring) join its running
decode; the others are batched per call by the batcher. --no-batching: one job per call.

Routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health, and
GET /stats (the batcher's counters: calls, jobs, rows, largest batch, dropped jobs, seconds
spent inside sampler calls; the XLA compilations of the process so far; and the continuous
engine's steps, rows per step, answered jobs, prefill and decode seconds).
Every error is an OpenAI-style JSON body `{"error": {message, type, param, code}}`: 400 for a
bad request, 404 for an unknown model, 413 for a body over the limit, 503 when the queue is
full or the server is stopping, 500 for a failure inside the sampler (the server stays up).
A client that disconnects while its request waits or runs has its jobs dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jaxinterest.sampling import ShapeBuckets
from jaxinterest.serve.batcher import Batcher, Overloaded
from jaxinterest.serve.compiles import compile_counter
from jaxinterest.serve.continuous import ContinuousEngine, accepts
from jaxinterest.serve.model import ServedModel
from jaxinterest.serve.protocol import Limits, Request, RequestError, parse_chat, parse_completion
from jaxinterest.serve.responses import chat_body, completion_body
from jaxinterest.serve.worker import PREFILL_ROWS, SHAPES, Job, batch_key, run_batch

log = logging.getLogger("jaxinterest.serve")


async def read_json(request: HttpRequest, limit: int):
    """The JSON body, refusing bodies over `limit` bytes (by header, then while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request body has {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, f"the request body is not valid JSON ({err})") from None


async def _until_disconnect(request: HttpRequest) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _jobs(req: Request) -> list[Job]:
    seed = req.seed if req.seed is not None else secrets.randbits(32)
    prompt_k = max(
        req.prompt_logprobs if req.prompt_logprobs is not None else -1,
        req.logprobs if req.echo and req.logprobs is not None else -1,
    )
    return [
        Job(
            prompt=p,
            max_tokens=req.max_tokens,
            seed=seed,
            stop=req.stop,
            alternatives=req.logprobs or 0,
            prompt_scores=prompt_k if prompt_k >= 0 else None,
        )
        for p in req.prompts
    ]


def build_app(
    model: ServedModel,
    *,
    limits: Limits | None = None,
    max_batch_rows: int = 64,
    max_wait: float = 0.01,
    batching: bool = True,
    max_pending: int = 4096,
    prefill_rows: int = PREFILL_ROWS,
    shapes: ShapeBuckets = SHAPES,
    continuous: bool = True,
) -> Starlette:
    """The ASGI app serving `model`. batching=False runs one request's prompt per call;
    `shapes`: the sampler's compiled shape buckets (see `sampling.shapes`). With batching
    and `continuous`, the jobs the continuous engine takes (`continuous.accepts`) decode in
    its `max_batch_rows` rows, joining between steps; the others go to the dynamic batcher."""
    limits = limits or Limits()
    compiles = compile_counter()

    def run(key, jobs):
        sampling = key[1] if key[0] == "generate" else None
        return run_batch(model, key, sampling, jobs, prefill_rows, shapes)

    batcher = Batcher(
        run,
        max_rows=max_batch_rows,
        max_wait=max_wait if batching else 0.0,
        max_requests=None if batching else 1,
        max_pending=max_pending,
    )

    engine = None
    if batching and continuous:
        engine = ContinuousEngine(
            model,
            max_batch_rows,
            shapes=shapes,
            prefill_rows=prefill_rows,
            max_pending=max_pending,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        if engine is not None:
            engine.start()
        yield
        if engine is not None:
            await asyncio.to_thread(engine.stop)
        await batcher.stop()

    def submit(req: Request):
        """One awaitable per job of `req`: the continuous engine's or the batcher's."""
        jobs = _jobs(req)
        if engine is not None and all(accepts(j, req.sampling, shapes) for j in jobs):
            return [asyncio.wrap_future(engine.submit(j, req.sampling)) for j in jobs]
        key = batch_key(req.sampling, req.max_tokens, shapes)
        rows = req.sampling.n if req.max_tokens else 1
        return [batcher.submit(key, rows, j) for j in jobs]

    async def serve(request: HttpRequest, parse, body_of):
        try:
            req = parse(await read_json(request, limits.max_body_bytes), model, limits)
            work = asyncio.gather(*submit(req))
            watch = asyncio.ensure_future(_until_disconnect(request))
            try:
                done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                watch.cancel()
            if work not in done:  # the client left: drop its jobs
                work.cancel()
                return Response(status_code=499)
            return JSONResponse(body_of(model, req, work.result()))
        except RequestError as err:
            return JSONResponse(err.body(), status_code=err.status)
        except ClientDisconnect:  # left while sending its body: nobody to answer
            return Response(status_code=499)
        except Overloaded as err:
            return JSONResponse(RequestError(503, str(err)).body(), status_code=503)
        except Exception as err:  # noqa: BLE001 - a sampler failure must not take the server down
            log.exception("request failed")
            body = RequestError(500, f"internal error: {type(err).__name__}: {err}").body()
            return JSONResponse(body, status_code=500)

    async def completions(request):
        return await serve(request, parse_completion, completion_body)

    async def chat(request):
        return await serve(request, parse_chat, chat_body)

    created = int(time.time())

    async def models(request):
        card = {
            "id": model.name,
            "object": "model",
            "created": created,
            "owned_by": "jaxinterest",
            "root": model.source,
            "max_model_len": model.context,
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def health(request):
        return JSONResponse({"status": "ok", "model": model.name})

    async def stats(request):
        s = batcher.stats
        return JSONResponse(
            {
                "calls": s.calls,
                "jobs": s.jobs,
                "rows": s.rows,
                "largest_batch": s.largest,
                "dropped": s.dropped,
                "busy_s": round(s.busy_s, 3),
                "pending": batcher.pending,
                "compiles": compiles.snapshot(),
                "continuous": None
                if engine is None
                else engine.stats.as_dict() | {"pending": engine.pending, "rows": engine.rows},
            }
        )

    routes = [
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.batcher = batcher
    app.state.engine = engine
    return app
