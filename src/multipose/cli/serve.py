"""`multipose serve`: the HTTP API and the web page, run by uvicorn."""

from __future__ import annotations

import click

from multipose import DEFAULT_MODEL


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    default=(DEFAULT_MODEL,),
    show_default=True,
    help="A model to serve (repeat for several; the first is the default). Each is loaded "
    "once, at start.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Requests estimated at once, each with its share of the CPU cores.",
)
@click.option(
    "--queue",
    default=16,
    show_default=True,
    type=click.IntRange(1),
    help="Requests running or waiting at most; more are refused with 503.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps.")
def serve(
    models: tuple[str, ...], host: str, port: int, workers: int, queue: int, device: str
) -> None:
    """Serve the HTTP API (its OpenAPI schema at /openapi.json) and the web page at / until
    Ctrl-C."""
    try:
        import uvicorn

        from multipose.serve import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs the extra ({exc.name} is missing): pip install 'multipose[serve]'"
        ) from None
    app = create_app(models, workers, max(queue, workers), device=device)
    click.echo(f"multipose serves {', '.join(models)} at http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
