"""The ASGI app of `multipose serve`: the HTTP API, its JSON errors, and the page at `/`."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from multipose import DEFAULT_MODEL, __version__
from multipose.errors import MultiposeError
from multipose.serve.answers import FORMATS, image_answer, openpose_layout, skeleton_json
from multipose.serve.clips import track_clip
from multipose.serve.engine import Busy, Models, TimeLimit, WorkQueue
from multipose.serve.uploads import ApiError, Limits, check_video, load_image, save
from multipose.skeleton import LAYOUTS, get_layout
from multipose.specs import ModelSpec

STATIC = Path(__file__).parent / "static"
IMAGE_PATH, VIDEO_PATH = "/v1/poses", "/v1/poses/video"

Model = Annotated[str | None, Query(description="A served model (default: the first served).")]
MinScore = Annotated[float, Query(ge=0.0, le=1.0, description="Drop people scoring less.")]
Layout = Annotated[
    str | None,
    Query(
        description=f"Keypoint layout of the people: {', '.join(LAYOUTS)} (default: the model's)."
    ),
]


def create_app(
    models: Sequence[str | ModelSpec] = (DEFAULT_MODEL,),
    workers: int = 1,
    queue: int = 16,
    limits: Limits | None = None,
    device: str = "cpu",
) -> FastAPI:
    """The app serving `models` (loaded now; the first is the default) with `workers` threads
    and at most `queue` requests running or waiting, within `limits`."""
    limits = limits or Limits()
    served = Models(models, device)
    work = WorkQueue(workers, queue)
    scratch = Path(tempfile.mkdtemp(prefix="multipose-serve-"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        work.close()
        shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(
        title="multipose",
        version=__version__,
        description="Multi-person 2D pose estimation over HTTP. Errors are JSON: "
        '{"error": "one line"}.',
        lifespan=lifespan,
        docs_url=None,  # FastAPI's documentation pages load their scripts from a CDN
        redoc_url=None,
    )
    app.add_middleware(
        _UploadLimit, limits={IMAGE_PATH: limits.image_bytes, VIDEO_PATH: limits.video_bytes}
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _errors(app)
    app.state.scratch = scratch

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    def healthz() -> dict:
        """Whether the server is up, and its queue."""
        return {
            "status": "ok",
            "queue": {"workers": work.workers, "pending": work.pending, "capacity": work.capacity},
        }

    @app.get("/v1/models")
    def list_models() -> dict:
        """The served models; the default first."""
        return {
            "default": served.default,
            "models": [
                {
                    "name": spec.name,
                    "method": spec.codec().method,
                    "input": spec.describe_input(),
                    "layout": spec.layout.name,
                    "openpose_layout": spec.output_layout,
                    "notes": spec.notes,
                }
                for spec in served.specs.values()
            ],
        }

    @app.post(IMAGE_PATH)
    async def poses(
        image: Annotated[UploadFile, File(description="A JPEG, PNG, WebP, BMP or TIFF image.")],
        model: Model = None,
        min_score: MinScore = 0.0,
        flip: Annotated[bool, Query(description="Also run the mirrored image.")] = False,
        layout: Layout = None,
        format: Annotated[
            Literal[FORMATS],
            Query(
                description="multipose: people, skeleton, timings and both other forms; "
                "openpose: OpenPose JSON; coco: COCO results."
            ),
        ] = "multipose",
    ) -> JSONResponse:
        """The people in one image."""
        start = time.perf_counter()
        spec = served.spec(model)
        target = get_layout(layout) if layout else spec.layout
        if format == "openpose" and layout and openpose_layout(layout, "") != layout:
            raise ApiError(422, f"OpenPose JSON is in coco18 or body25, not {layout}")
        name = image.filename or "image"

        def run(deadline: float) -> dict:
            began = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=scratch) as folder:
                path = save(image.file, name, Path(folder), limits.image_bytes)
                pixels = load_image(path, name, limits)
            read = time.perf_counter()
            pipeline = served.pipeline(spec.name, flip)
            people = pipeline(pixels).filter(min_score=min_score).convert(target)
            height, width = pixels.shape[:2]
            answer = image_answer(
                people, name, width, height, openpose_layout(layout, spec.output_layout)
            )
            answer["timings"] = {
                "queue_ms": 1000 * (began - start),
                "read_ms": 1000 * (read - began),
                **pipeline.timing,
            }
            return answer

        answer = await work.run(run, limits.image_seconds)
        if format != "multipose":
            return JSONResponse(answer[format])
        answer["timings"]["total_ms"] = 1000 * (time.perf_counter() - start)
        answer["timings"] = {key: round(value, 2) for key, value in answer["timings"].items()}
        return JSONResponse({"model": spec.name, **answer})

    @app.post(VIDEO_PATH)
    async def poses_video(
        video: Annotated[UploadFile, File(description="A short clip (MP4, WebM, AVI, MOV).")],
        model: Model = None,
        min_score: MinScore = 0.0,
        layout: Layout = None,
        overlay: Annotated[
            bool, Query(description="Also answer the overlay video (WebM, as a data URL).")
        ] = True,
    ) -> JSONResponse:
        """The people of every frame of a short clip, with ids kept across frames."""
        start = time.perf_counter()
        spec = served.spec(model)
        target = get_layout(layout) if layout else spec.layout
        name = video.filename or "video"

        def run(deadline: float) -> dict:
            with tempfile.TemporaryDirectory(dir=scratch) as folder:
                path = save(video.file, name, Path(folder), limits.video_bytes)
                check_video(path, name, limits)
                pipeline = served.pipeline(spec.name, False)
                drawn = Path(folder) / "overlay.webm" if overlay else None
                clip = track_clip(path, name, pipeline, target, min_score, limits, deadline, drawn)
            return {
                "model": spec.name,
                "layout": target.name,
                "skeleton": skeleton_json(target),
                **clip,
                "timings": {},
            }

        answer = await work.run(run, limits.video_seconds)
        answer["timings"]["total_ms"] = round(1000 * (time.perf_counter() - start), 2)
        return JSONResponse(answer)

    return app


def _errors(app: FastAPI) -> None:
    """Every error as JSON {"error": one line} with its status; the server goes on."""

    def error(status: int, message: str, **headers: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(MultiposeError)
    async def bad_options(_: Request, exc: MultiposeError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        return error(
            503, "the server is busy: its queue is full, try again shortly", **{"Retry-After": "1"}
        )

    @app.exception_handler(TimeLimit)
    async def too_long(_: Request, exc: TimeLimit) -> JSONResponse:
        return error(504, "the request ran past the server's time limit")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(map(str, problem['loc'][1:])) or problem['loc'][0]}: {problem['msg']}"
            for problem in exc.errors()
        ]
        return error(422, "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error ({type(exc).__name__})")


class _UploadLimit:
    """Refuses an upload by its Content-Length before reading it: 413 over the path's limit
    (plus room for the multipart envelope), 411 without one."""

    ENVELOPE = 64 * 2**10

    def __init__(self, app: ASGIApp, limits: dict[str, int]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is not None and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length")
            status, message = None, ""
            if length is None or not length.isdigit():
                status, message = 411, "send the upload with a Content-Length"
            elif int(length) > limit + self.ENVELOPE:
                status, message = (
                    413,
                    f"the upload is {int(length)} bytes, over the limit of {limit}",
                )
            if status is not None:
                response = JSONResponse({"error": message}, status_code=status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
