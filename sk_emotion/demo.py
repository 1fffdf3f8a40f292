"""The demos behind ``sk-emotion demo``, offline.

:func:`run_demo` (the default): on the embedded expression videos, the
zero-shot pretrained model, the paper's baselines and the method (with its
temperature chosen by grid search), and a table of validation accuracies.

:func:`run_photo_demo` (``--photos``): the pretrained model on the real faces
of photos that ship inside installed packages (insightface's group photo
``t1.jpg`` and ``Tom_Hanks_54745.png``, scikit-image's astronaut).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import TEMPERATURE_GRID

__all__ = ["sample_photos", "faces_in_photos", "run_photo_demo", "run_demo"]


def sample_photos() -> dict[str, np.ndarray]:
    """Return RGB photos of real faces shipped by installed packages, by name.

    scikit-image's astronaut always; insightface's ``t1.jpg`` and
    ``Tom_Hanks_54745.png`` when insightface is installed with its images.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"<file or name> (<package>)"`` to an RGB ``uint8`` image ``(H, W, 3)``.
    """
    from skimage import data, io

    photos = {"astronaut (scikit-image)": data.astronaut()}
    spec = importlib.util.find_spec("insightface")
    if spec is not None and spec.submodule_search_locations:
        images = Path(spec.submodule_search_locations[0]) / "data" / "images"
        for name in ("t1.jpg", "Tom_Hanks_54745.png"):
            if (images / name).is_file():
                photos[f"{name} (insightface)"] = io.imread(images / name)[..., :3]
    return photos


def faces_in_photos(photos: dict[str, np.ndarray], face_size: int = 64) -> tuple[np.ndarray, pd.DataFrame]:
    """Detect and align every face of the photos, in gray.

    Faces are found by MTCNN (offline weights) and aligned on their
    landmarks, left to right within each photo.

    Parameters
    ----------
    photos : dict of str to numpy.ndarray
        RGB ``uint8`` images ``(H, W, 3)`` by name, as :func:`sample_photos` returns.
    face_size : int, default=64
        Side in pixels of the aligned square faces.

    Returns
    -------
    faces : numpy.ndarray
        Gray ``uint8`` faces ``(n_faces, face_size, face_size)``.
    table : pandas.DataFrame
        One row per face, in the order of ``faces``: ``photo`` (its name),
        ``face`` (1-based rank from the left) and ``box`` (the detection box
        as ``"(x1,y1)-(x2,y2)"``).
    """
    from .faces.align import align_face
    from .faces.mtcnn_detector import MTCNNDetector
    from .preprocessing import to_color

    detector = MTCNNDetector(thresholds=(0.6, 0.7, 0.9))
    faces, rows = [], []
    for name, image in photos.items():
        found = detector.detect(image)
        order = np.argsort(found.boxes[:, 0])  # left to right, as a person reads the photo
        for rank, i in enumerate(order):
            aligned = align_face(image, found.landmarks[i], face_size=face_size)
            faces.append(to_color(aligned[None], "gray")[0, ..., 0])
            x1, y1, x2, y2 = found.boxes[i]
            rows.append({"photo": name, "face": rank + 1,
                         "box": f"({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f})"})
    return np.stack(faces), pd.DataFrame(rows)


def run_photo_demo(verbose: bool = True) -> pd.DataFrame:
    """Run the pretrained model on the faces of :func:`sample_photos` and print the table.

    Each face is classified as a one-frame clip by
    :meth:`EmotionClassifier.from_pretrained <sk_emotion.EmotionClassifier.from_pretrained>`
    set for single photos: the class frequencies of the training faces
    (``meta["class_frequencies"]``) as ``class_prior``, and mirror averaging,
    the setting that labels most held-out FER+ faces right (0.843;
    ``docs/weights.md``, *Class priors*).

    Parameters
    ----------
    verbose : bool, default=True
        Also print a header and a count of the predicted emotions; the table
        is printed either way.

    Returns
    -------
    pandas.DataFrame
        The table of :func:`faces_in_photos` with the predicted ``emotion``
        and one column of probabilities (rounded to 2 decimals) per class.
    """
    from .estimators.classifier import EmotionClassifier
    from .weights import resolve_emotion_weights

    weights = resolve_emotion_weights(None)
    if verbose:
        print(f"sk-emotion demo: zero-shot emotion recognition of single photos with the "
              f"{weights.meta['architecture']} ({weights.meta['dataset']})")
        print("finding faces (MTCNN, offline weights) in photos shipped by installed packages...")
    faces, table = faces_in_photos(sample_photos())
    model = EmotionClassifier.from_pretrained(class_prior=list(weights.meta["class_frequencies"]), mirror=True)
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


#: Size of the small data set of quick runs (tests, CI examples), kept in its own folder.
QUICK_DATA = {"n_train_per_class": 3, "n_val_per_class": 2, "n_frames": 16}

#: The demo's comparison: zero-shot, then the paper's baselines, then the method.
DEMO_CONFIGS = (
    ("avg + mean (baseline)", {"spatial_pooling": "avg", "temporal_pooling": "mean"}, ()),
    ("avg + max (baseline)", {"spatial_pooling": "avg", "temporal_pooling": "max"}, ()),
    ("avg + lstm (baseline)", {"spatial_pooling": "avg", "temporal_pooling": "lstm"}, ()),
    ("attention + softmax (paper)", {"spatial_pooling": "attention", "temporal_pooling": "softmax"},
     TEMPERATURE_GRID["softmax"][1:]),
    ("attention + expressive (default)", {"spatial_pooling": "attention", "temporal_pooling": "expressive"},
     TEMPERATURE_GRID["expressive"]),
)


def run_demo(root: str | os.PathLike | None = None, *, quick: bool = False, verbose: bool = True) -> pd.DataFrame:
    """Generate (or reuse) the embedded data, train and compare; print and return the table.

    Parameters
    ----------
    root : path-like, optional
        Where the expression videos live (default: the package cache).
    quick : bool, default=False
        Fewer videos and epochs, for tests.
    verbose : bool, default=True
        Print progress; the result table is printed either way.

    Returns
    -------
    pandas.DataFrame
        One row per model (the zero-shot pretrained network, then each
        configuration of ``DEMO_CONFIGS``): ``model``, ``temperature`` (as
        text, ``"-"`` when the pooling has none) and ``val_accuracy`` (in
        percent, rounded to 1 decimal).
    """
    import time

    from .datasets.afew import load_afew
    from .datasets.synthetic import default_data_dir, make_expression_videos
    from .estimators.classifier import EmotionClassifier
    from .estimators.extractor import VideoFaceExtractor
    from .experiments import Config, evaluate_configs
    from .pipeline import default_face_cache
    from .weights import resolve_emotion_weights

    say = print if verbose else (lambda *a, **k: None)
    start = time.perf_counter()
    if root is None:
        # Quick runs get their own folder so they never replace the full data set.
        root = default_data_dir() / "quick" if quick else default_data_dir()
    sizes = QUICK_DATA if quick else {}
    say(f"[1/4] embedded data: expression videos in {root} (generated once, then reused)")
    make_expression_videos(root, random_state=0, **sizes)
    table = load_afew(root)
    train, val = table[table["subset"] == "train"], table[table["subset"] == "val"]
    say(f"      {len(train)} training and {len(val)} validation videos, 7 emotions")

    say("[2/4] extracting faces (MTCNN, aligned 64x64, 16 frames per video; cached per video)")
    extractor = VideoFaceExtractor(n_frames=16, cache_dir=default_face_cache(), verbose=int(verbose))
    faces, report = extractor.transform_with_report(table["path"])
    coverage = float(report["face_coverage"].mean())
    say(f"      faces found in {coverage:.1%} of sampled frames")
    is_train = (table["subset"] == "train").to_numpy()
    X_train, X_val = faces[is_train], faces[~is_train]
    y_train, y_val = train["emotion"].to_numpy(), val["emotion"].to_numpy()

    zero_shot_model = EmotionClassifier.from_pretrained()
    backbone = resolve_emotion_weights(zero_shot_model.weights).meta["architecture"].split(" (")[0]
    say(f"[3/4] zero-shot: the pretrained {backbone} on every frame, no training")
    zero_shot = zero_shot_model.score(X_val, y_val)

    say("[4/4] training the baselines and the method (temperature by 3-fold grid search on train)")
    epochs = 10 if quick else 40
    configs = [Config(name, params, temps) for name, params, temps in DEMO_CONFIGS]
    results = evaluate_configs(X_train, y_train, X_val, y_val, configs,
                               base_params={"max_epochs": epochs}, progress=say)
    rows = [{"model": f"zero-shot {backbone} (expressive)",
             "temperature": f"{zero_shot_model.module_.temporal.temperature:g}", "val_accuracy": zero_shot}]
    rows += [{"model": r.config,
              "temperature": "-" if np.isnan(r.temperature) else f"{r.temperature:g}",
              "val_accuracy": r.val_accuracy} for r in results.itertuples()]
    summary = pd.DataFrame(rows)
    summary["val_accuracy"] = (100 * summary["val_accuracy"]).round(1)
    print()
    print(f"Validation accuracy (%) on {len(val)} held-out videos, chance = {100 / 7:.1f}%:")
    print(summary.rename(columns={"val_accuracy": "accuracy (%)"}).to_string(index=False))
    say(f"\ndone in {time.perf_counter() - start:.0f} s")
    return summary
