"""`physfoley web`: serve the browser app (Gradio) on this machine."""

from __future__ import annotations

import argparse
import signal
import sys

from physfoley.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "web",
        help="open physfoley in the browser: synthesise, see and edit impacts with sliders",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Serve the physfoley app (Gradio): upload a video, see the impacts found in it,\n"
            "hear and download its new soundtrack, and change any one impact's physics with\n"
            "sliders; or upload a recording and edit its modes. Scripts can call the named\n"
            "endpoints /synthesize and /analyze with gradio_client. Needs the `web` extra:\n"
            "pip install 'physfoley[web]'."
        ),
        epilog="example:\n  physfoley web --port 7860   # then open http://127.0.0.1:7860",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 = all)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument(
        "--model",
        metavar="NAME|DIR",
        help="model offered by default, a shipped name or a model directory of either family "
        "(per-impact or diff-foley; default: the shipped small model)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=200.0,
        metavar="MB",
        help="largest upload accepted, in MB (default: %(default)g)",
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="also publish the app at a temporary public *.gradio.live address through "
        "Gradio's relay (anyone with the link can use it; off by default)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be between 1 and 65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise InputError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    try:
        from physfoley.web.app import WebApp, WebSettings
    except ModuleNotFoundError as err:
        if err.name != "gradio":
            raise
        raise InputError("the web app needs Gradio: pip install 'physfoley[web]'") from None
    app = WebApp(WebSettings(model=args.model, max_upload_mb=args.max_upload_mb))
    # A service manager stops the server with SIGTERM: leave through `finally` as on Ctrl-C,
    # so that the app's temporary folder goes with it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(f"physfoley web: serving on http://{args.host}:{args.port}", file=sys.stderr)
    try:
        app.launch(host=args.host, port=args.port, share=args.share)
    finally:
        app.close()
    return 0
