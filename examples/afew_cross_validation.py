"""Evaluate on AFEW's own protocol: train on Train_AFEW, score on Val_AFEW.

    python examples/afew_cross_validation.py /path/to/AFEW     # your licensed copy
    python examples/afew_cross_validation.py                   # falls back to the embedded data

`afew_predefined_split` turns the table's subset column into scikit-learn's
PredefinedSplit, so cross_val_score (and GridSearchCV) use AFEW's split.
"""

import argparse

from sklearn.model_selection import cross_val_score

from sk_emotion import make_emotion_pipeline
from sk_emotion.datasets import afew_predefined_split, load_afew

parser = argparse.ArgumentParser()
parser.add_argument("root", nargs="?", help="AFEW root with Train_AFEW/ and Val_AFEW/")
parser.add_argument("--quick", action="store_true", help="small data and few epochs (CI)")
args = parser.parse_args()

if args.root:
    root = args.root
else:
    from sk_emotion.datasets.synthetic import default_data_dir, make_expression_videos
    from sk_emotion.demo import QUICK_DATA

    root = default_data_dir() / "quick" if args.quick else default_data_dir()
    sizes = QUICK_DATA if args.quick else {}
    make_expression_videos(root, random_state=0, **sizes)
    print(f"no AFEW root given: using the embedded expression videos in {root}")

data = load_afew(root)
# verbose: a progress bar over the videos, and skorch's per-epoch table while training.
pipe = make_emotion_pipeline(classifier={"max_epochs": 5 if args.quick else 40, "random_state": 0,
                                         "verbose": 1},
                             extractor={"on_error": "fallback", "verbose": 1})
scores = cross_val_score(pipe, data["path"], data["emotion"], cv=afew_predefined_split(data), verbose=1)
print(f"AFEW-protocol validation accuracy: {scores[0]:.3f} "
      f"({(data.subset == 'train').sum()} train / {(data.subset == 'val').sum()} val videos)")
