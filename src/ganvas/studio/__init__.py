"""``ganvas studio``: watch, explore and compare runs in the browser (Gradio).

The pieces below the page work without Gradio and are tested on their own:

- :mod:`~ganvas.studio.folders`: the run folders it was given, and the only way a request
  names a file (nothing outside them is served);
- :mod:`~ganvas.studio.catalog`: one row per run for the Runs view (the run-state reader's
  state, data, model, kimg, best FID, images/s, latest grid);
- :mod:`~ganvas.studio.watch`: what the Run view shows, re-read only when a file changed;
- :mod:`~ganvas.studio.warm`: generators kept loaded between requests, rendered through
  :mod:`ganvas.render` (so a seed gives ``ganvas generate``'s pixels);
- :mod:`~ganvas.studio.access`: who may connect (127.0.0.1, or a password or token).

:mod:`~ganvas.studio.app` builds the page; Gradio is an optional extra
(``pip install 'ganvas[studio]'``).
"""
