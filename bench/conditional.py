"""One model, several kinds of picture: conditional against unconditional DCGAN on a class-folder
set, in the same CPU budget.

    python bench/conditional.py --minutes 8          # anime faces, CelebA faces, Van Gogh, 32 px

CIFAR-10 is not in ../shared/data, so the set is made from three of its datasets, one class
sub-folder each (``--per-class`` images of each, Van Gogh has 849): ganvas prepare reads the
sub-folders as labels. Both runs use the plain DCGAN default at ``--resolution`` for the same
wall-clock budget and seed; the conditional one adds ``--cond``. Scores, all Inception
(standard weights):
- FID of ``--n`` samples against all training images (a conditional G draws every class
  equally often, seed s class s mod K; the training set is not balanced, which the protocol
  line says);
- intra-class FID (``--per-class``), the conditional run only: each class's samples against
  that class's images, averaged;
- class agreement, the conditional run only: the linear probe's share of samples in the class
  asked for, beside its accuracy on held-out real images.
Writes the table (Markdown) and the conditional run's class grid into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np

import ganvas
from ganvas.data import open_training_data
from ganvas.explore.generate import generate
from ganvas.metrics import evaluate
from ganvas.metrics.agreement import class_agreement
from ganvas.metrics.per_class import per_class_scores
from ganvas.metrics.sources import ArraySide
from ganvas.utils.markdown import markdown_table

from quality import SHARED

SOURCES = {"anime": "anime_faces_64.tar", "celeba": "celeba_89x109_10k.tar",
           "vangogh": "vangogh_849.tar"}


def class_folders(root: Path, per_class: int) -> Path:
    """``root/classes/<name>/`` with up to ``per_class`` images of each source."""
    for name, tar_name in SOURCES.items():
        target = root / "classes" / name
        target.mkdir(parents=True)
        with tarfile.open(SHARED / tar_name) as tar:
            members = [m for m in tar.getmembers() if m.isfile()][:per_class]
            for i, member in enumerate(members):
                data = tar.extractfile(member)
                if data is not None:
                    suffix = Path(member.name).suffix or ".jpg"
                    (target / f"{i:05d}{suffix}").write_bytes(data.read())
    return root / "classes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--n", type=int, default=1000, help="samples scored")
    parser.add_argument("--out", type=Path, default=Path("bench-conditional"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folders = class_folders(Path(tempfile.mkdtemp(prefix="ganvas-cond-")), args.per_class)
    data = open_training_data(str(folders), args.resolution, None)
    counts = np.bincount(np.asarray(data.labels))
    print(f"{len(data)} images: " + ", ".join(f"{n} {c:,}" for n, c in zip(data.classes, counts)))
    rows = []
    for cond in (False, True):
        run = ganvas.train(str(folders), resolution=args.resolution, minutes=args.minutes,
                           cond=cond, outdir=str(args.out / "runs"), progress=False,
                           desc="cond" if cond else "plain").run_dir
        reals = ArraySide(np.ascontiguousarray(data.images), f"all {len(data)} images")
        fid = evaluate(reals, str(run), n=len(data), n_b=args.n)
        row = {"run": "conditional" if cond else "unconditional", "kimg": kimg_of(run),
               "FID": f"{fid['fid']:.1f}", "intra-class FID": "", "agreement": ""}
        print(f"{row['run']}: FID {fid['fid']:.2f} ({fid['protocol']})")
        if cond:
            intra = per_class_scores(data, str(run), n=args.n // len(data.classes), kid=False)
            agree = class_agreement(data, str(run), n=args.n)
            row["intra-class FID"] = f"{intra['fid']:.1f}"
            row["agreement"] = f"{agree['agreement']:.3f} (real {agree['probe_accuracy']:.3f})"
            print(f"intra-class: {intra['protocol']}\nagreement: {agree['protocol']}")
            grid = generate(run, list(range(8)), args.out, grid=True, classes="all")[0]
            grid.replace(args.out / f"conditional-{args.resolution}px.png")
        rows.append(row)
    table = markdown_table(list(rows[0]), [list(r.values()) for r in rows])
    (args.out / "table.md").write_text(table + "\n")
    print(table)


def kimg_of(run: Path) -> str:
    last = (run / "stats.jsonl").read_text().splitlines()[-1]
    return f"{json.loads(last)['kimg']:.1f}"


if __name__ == "__main__":
    main()
