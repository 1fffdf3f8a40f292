"""Emotion timeline of a video: which person shows which emotion, and when.

    python examples/emotion_timeline.py [VIDEO] [--out timeline.png] [--csv windows.csv]

Without VIDEO, a 20-second video of two people is generated whose expressions
change at scripted times (one of them steps out for two seconds), and the
timeline is printed next to the script.  The zero-shot model is used; pass
``--model`` for a model saved with ``sk-emotion train`` or ``save_model``.
"""

import argparse
import tempfile
from pathlib import Path

from sk_emotion import emotion_timeline
from sk_emotion.datasets import PersonScript, make_scripted_video
from sk_emotion.viz import plot_timeline

parser = argparse.ArgumentParser()
parser.add_argument("video", nargs="?", help="a video file (default: a generated one)")
parser.add_argument("--model", help="a saved model (.skem); default: the zero-shot model")
parser.add_argument("--out", default="timeline.png", help="the figure (PNG)")
parser.add_argument("--csv", help="also write the windows table")
args = parser.parse_args()

truth = None
video = args.video
if video is None:
    video = str(Path(tempfile.mkdtemp()) / "two_people.mp4")
    people = [
        PersonScript(identity="t1_1", position=(0.3, 0.5), face_size=140,
                     segments=[(3.0, 8.0, "happy"), (12.0, 17.0, "sad")]),
        PersonScript(identity="t1_0", position=(0.7, 0.5), face_size=140,
                     segments=[(9.0, 15.0, "happy")], visible=[(0.0, 4.0), (6.0, 20.0)]),
    ]
    truth = make_scripted_video(video, people, duration_s=20.0, frame_size=(960, 540), random_state=0)
    print("the script:")
    print(truth.drop(columns="identity").to_string(index=False))

model = None
if args.model:
    from sk_emotion.persistence import load_model

    model = load_model(args.model)
windows, persons = emotion_timeline(video, model, window=2.0, hop=1.0, verbose=1, return_persons=True)

print(persons.drop(columns="thumbnails").round(1).to_string(index=False))
print(windows[["person", "start_s", "end_s", "label", "p_happy", "p_sad", "p_neutral", "face_coverage"]]
      .round(2).to_string(index=False))
if args.csv:
    windows.to_csv(args.csv, index=False)
plot_timeline(windows, persons, title=Path(video).name).savefig(args.out, dpi=100)
print(f"figure -> {args.out}")
