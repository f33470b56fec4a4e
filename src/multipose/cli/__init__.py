"""The `multipose` command line: the group, and one module per command."""

from __future__ import annotations

import sys
import warnings

import click

from multipose import __version__
from multipose.cli import (
    convert,
    estimate,
    evaluate,
    export,
    models,
    oracle,
    render,
    serve,
    synthetic,
    train,
    weights,
)
from multipose.errors import MultiposeError


class _Group(click.Group):
    """Reports `MultiposeError`s as one line on stderr with exit status 1, not a traceback, and
    Ctrl-C that a command does not handle itself (while starting) with exit status 130."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MultiposeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="multipose")
def main() -> None:
    """Multi-person 2D human pose estimation."""
    from PIL import Image

    # an image over Pillow's pixel limit is reported by `read_image`, in one line
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


for _command in (
    convert.convert_weights,
    estimate.estimate,
    evaluate.evaluate,
    export.export_onnx,
    models.models,
    oracle.oracle,
    render.render,
    serve.serve,
    synthetic.synthetic,
    train.train,
    weights.weights,
):
    main.add_command(_command)
