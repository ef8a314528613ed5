"""``ganvas studio``: build the page and serve it (Gradio is an optional extra)."""

from __future__ import annotations

import os
import threading
from typing import Sequence

from ganvas.errors import GanvasError
from ganvas.studio.access import Access, decide_access

INSTALL_HINT = ("ganvas studio needs Gradio, an optional extra: pip install 'ganvas[studio]' "
                "(or pip install gradio)")
MAX_UPLOAD = "20mb"   # a photo to project; larger uploads are refused by the server
DEFAULT_PORT = 7860
IDLE_POLL_S = 0.02       # how often Gradio's queue looks for a new job when idle
PROGRESS_POLL_S = 0.1    # ... and for progress to send


def require_gradio() -> None:
    """Raise the one-line install hint when Gradio is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise GanvasError(INSTALL_HINT) from None


def build(roots: Sequence[str | os.PathLike]):  # -> gr.Blocks
    """The studio's page for the runs under ``roots``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, no update check
    require_gradio()
    from ganvas.studio.page import Page
    from ganvas.studio.studio import Studio
    return Page(Studio(roots)).build()


def quieten_queue(blocks) -> None:
    """Let Gradio's job queue sleep when nobody uses the page.

    Its loops poll for new jobs every 1 ms and for progress every 10 ms, about 4% of a core
    while idle: training beside the studio would pay for it. 20 ms and 100 ms cost nothing
    noticeable on the page (bench/studio_render.py --beside-training measures the rest).
    """
    queue = getattr(blocks, "_queue", None)
    if queue is not None:
        queue.sleep_when_free = max(getattr(queue, "sleep_when_free", 0.0), IDLE_POLL_S)
        queue.progress_update_sleep_when_free = max(
            getattr(queue, "progress_update_sleep_when_free", 0.0), PROGRESS_POLL_S)


def wait_for_interrupt(blocks) -> None:
    """Block until Ctrl-C (no polling loop, unlike Gradio's own), then close the server."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("studio: stopped", flush=True)
    finally:
        blocks.close()


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
    quieten_queue(blocks)
    if not quiet:
        print(f"studio: http://{access.host}:{port}/  (Ctrl-C stops it)", flush=True)
    if block:
        wait_for_interrupt(blocks)
    return blocks
