"""``ganvas studio``: build the page and serve it (Gradio is an optional extra)."""

from __future__ import annotations

import os
from typing import Sequence

from ganvas.errors import GanvasError
from ganvas.studio.access import Access, decide_access

INSTALL_HINT = ("ganvas studio needs Gradio, an optional extra: pip install 'ganvas[studio]' "
                "(or pip install gradio)")
MAX_UPLOAD = "20mb"   # a photo to project; larger uploads are refused by the server
DEFAULT_PORT = 7860


def require_gradio() -> None:
    """Raise the one-line install hint when Gradio is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise GanvasError(INSTALL_HINT) from None


def build(roots: Sequence[str | os.PathLike]):  # -> gr.Blocks
    """The studio's page for the runs under ``roots``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, no update check
    require_gradio()
    from ganvas.studio.page import Page
    from ganvas.studio.studio import Studio
    return Page(Studio(roots)).build()


def serve(roots: Sequence[str | os.PathLike], host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, auth: str | None = None, block: bool = True,
          quiet: bool = False):
    """Build and serve the studio; returns the running Blocks when ``block`` is False."""
    access: Access = decide_access(host, auth)
    blocks = build(roots)
    from ganvas.studio.page import CSS
    blocks.queue(default_concurrency_limit=1)
    notice = access.notice()
    if notice:
        print(notice, flush=True)
    try:
        blocks.launch(server_name=access.host, server_port=port, auth=access.login,
                      prevent_thread_lock=True, quiet=True, share=False,
                      max_file_size=MAX_UPLOAD, ssr_mode=False, inbrowser=False,
                      footer_links=[], show_error=True, css=CSS)
    except OSError:  # the port is taken, or the address is not this machine's
        raise GanvasError(f"--port {port}: cannot listen on {access.host}:{port} (the port is "
                          "in use, or the host is not an address of this machine)") from None
    if not quiet:
        print(f"studio: http://{access.host}:{port}/  (Ctrl-C stops it)", flush=True)
    if block:
        blocks.block_thread()  # until Ctrl-C, which closes the server
    return blocks
