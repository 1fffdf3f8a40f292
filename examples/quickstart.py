"""Quick start: extract faces from videos, fit the method, predict, explain.

Runs on the embedded expression videos (generated on first use, then cached).

    python examples/quickstart.py [--quick]
"""

import argparse

from sk_emotion import make_emotion_pipeline, predict_table
from sk_emotion.datasets import load_afew
from sk_emotion.datasets.synthetic import default_data_dir, make_expression_videos
from sk_emotion.demo import QUICK_DATA

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="small data and few epochs (CI)")
parser.add_argument("--root", default=None, help="where to generate the videos")
args = parser.parse_args()

root = args.root or (default_data_dir() / "quick" if args.quick else default_data_dir())
sizes = QUICK_DATA if args.quick else {}
make_expression_videos(root, random_state=0, **sizes)
data = load_afew(root)
train, val = data[data.subset == "train"], data[data.subset == "val"]

pipe = make_emotion_pipeline(
    extractor={"n_frames": 16},
    classifier={"spatial_pooling": "attention", "temporal_pooling": "auto",
                "max_epochs": 5 if args.quick else 40, "random_state": 0},
)
pipe.fit(train["path"], train["emotion"])
print(f"validation accuracy: {pipe.score(val['path'], val['emotion']):.3f}")
print(predict_table(pipe, val["path"]).round(2).head(10).to_string(index=False))

faces = pipe[:-1].transform(val["path"][:1])
explanation = pipe[-1].explain(faces)
print(explanation.to_frame()[["frame", "temporal_weight", "attention_peak"]].round(3).to_string(index=False))
