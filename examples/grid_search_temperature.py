"""Grid search over the temporal softmax temperature, inside the full video pipeline.

The extractor's cache makes each video decoded and searched once, whatever the
number of candidates and folds.

    python examples/grid_search_temperature.py [--quick]
"""

import argparse

import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sk_emotion import make_emotion_pipeline
from sk_emotion.datasets import load_afew
from sk_emotion.datasets.synthetic import default_data_dir, make_expression_videos
from sk_emotion.demo import QUICK_DATA

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="small data and few epochs (CI)")
parser.add_argument("--root", default=None)
args = parser.parse_args()

root = args.root or (default_data_dir() / "quick" if args.quick else default_data_dir())
sizes = QUICK_DATA if args.quick else {}
make_expression_videos(root, random_state=0, **sizes)
train = load_afew(root).query("subset == 'train'")

# verbose: a progress bar while the faces are extracted (once: the cache serves every fit),
# then one line per fit of the search.
pipe = make_emotion_pipeline(extractor={"verbose": 1},
                             classifier={"max_epochs": 5 if args.quick else 40, "random_state": 0})
temperatures = [0.1, 0.35] if args.quick else [0.05, 0.1, 0.2, 0.35, 0.5, 1.0]
search = GridSearchCV(pipe, {"emotionclassifier__temperature": temperatures},
                      cv=StratifiedKFold(3, shuffle=True, random_state=0), verbose=2)
search.fit(train["path"], train["emotion"])
columns = ["param_emotionclassifier__temperature", "mean_test_score", "std_test_score"]
results = pd.DataFrame(search.cv_results_)[columns]
print(results.to_string(index=False))
print("best temperature:", search.best_params_["emotionclassifier__temperature"])
