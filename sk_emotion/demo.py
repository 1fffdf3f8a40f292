"""The demo behind ``sk-emotion demo``: the pretrained model on real faces, offline.

It finds the faces in photos that ship inside installed packages
(insightface's group photo ``t1.jpg`` and ``Tom_Hanks_54745.png``,
scikit-image's astronaut), aligns them, and prints the zero-shot model's
emotion probabilities for each.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["sample_photos", "faces_in_photos", "run_demo"]


def sample_photos() -> dict[str, np.ndarray]:
    """RGB photos of real faces shipped by installed packages, by name."""
    from skimage import data, io

    photos = {"astronaut (scikit-image)": data.astronaut()}
    spec = importlib.util.find_spec("insightface")
    if spec is not None and spec.submodule_search_locations:
        images = Path(spec.submodule_search_locations[0]) / "data" / "images"
        for name in ("t1.jpg", "Tom_Hanks_54745.png"):
            if (images / name).is_file():
                photos[f"{name} (insightface)"] = io.imread(images / name)[..., :3]
    return photos


def faces_in_photos(photos: dict[str, np.ndarray], face_size: int = 64):
    """Detect and align every face; returns gray faces ``(n, 64, 64)`` and a table of where they are."""
    from .faces.align import align_face
    from .faces.mtcnn import MTCNNDetector

    detector = MTCNNDetector(thresholds=(0.6, 0.7, 0.9))
    faces, rows = [], []
    for name, image in photos.items():
        found = detector.detect(image)
        order = np.argsort(found.boxes[:, 0])  # left to right, as a person reads the photo
        for rank, i in enumerate(order):
            aligned = align_face(image, found.landmarks[i], face_size=face_size)
            gray = aligned.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            faces.append(np.clip(np.rint(gray), 0, 255).astype(np.uint8))
            x1, y1, x2, y2 = found.boxes[i]
            rows.append({"photo": name, "face": rank + 1,
                         "box": f"({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f})"})
    return np.stack(faces), pd.DataFrame(rows)


def run_demo(verbose: bool = True) -> pd.DataFrame:
    """Run the demo and print its table; returns the table."""
    from .estimators.classifier import EmotionClassifier

    if verbose:
        print("sk-emotion demo: zero-shot emotion recognition with the FER2013 mini-Xception")
        print("finding faces (MTCNN, offline weights) in photos shipped by installed packages...")
    faces, table = faces_in_photos(sample_photos())
    model = EmotionClassifier.from_pretrained()
    probabilities = model.predict_proba(faces[:, None])  # one-frame clips
    table["emotion"] = model.classes_[probabilities.argmax(axis=1)]
    for column, name in enumerate(model.classes_):
        table[name] = probabilities[:, column].round(2)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False))
    if verbose:
        counts = table["emotion"].value_counts().to_dict()
        print(f"\n{len(table)} faces; predicted emotions: {counts}")
    return table
