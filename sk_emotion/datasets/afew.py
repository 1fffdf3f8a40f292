"""AFEW (EmotiW) as a pandas table and its predefined train/validation split.

AFEW is licence-restricted and is not distributed with sk-emotion; point
:func:`load_afew` at your own copy.  The EmotiW layout is::

    root/
      Train_AFEW/Angry/000046280.avi ... (773 clips)
      Val_AFEW/Angry/000149120.avi ...   (383 clips)

Common variants are accepted: ``Train``/``train``/``AFEW_Train``,
``Val``/``Validation``/``Val_AFEW``, emotion folders in any case or with common
synonyms (``Anger``, ``Happiness``), and ``.mp4`` files.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..emotions import EMOTIONS
from .folders import VIDEO_EXTENSIONS, canonical_emotion, is_hidden, list_clips

if TYPE_CHECKING:
    from sklearn.model_selection import PredefinedSplit

__all__ = ["load_afew", "afew_predefined_split", "AFEW_EMOTION_FOLDERS"]

#: Folder names of the EmotiW release.
AFEW_EMOTION_FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")

_SUBSET_PATTERNS = {
    "train": re.compile(r"^(afew[_ -]?)?train(ing)?([_ -]?afew)?$", re.IGNORECASE),
    "val": re.compile(r"^(afew[_ -]?)?val(id|idation)?([_ -]?afew)?$", re.IGNORECASE),
}
_EXPECTED_LAYOUT = "<root>/Train_AFEW/<Emotion>/*.avi and <root>/Val_AFEW/<Emotion>/*.avi"


def _subset_of(name: str) -> str | None:
    for subset, pattern in _SUBSET_PATTERNS.items():
        if pattern.match(name):
            return subset
    return None


def load_afew(root: str | os.PathLike, *, subsets: tuple[str, ...] = ("train", "val")) -> pd.DataFrame:
    """Index an AFEW copy: one row per clip with its path, emotion and subset.

    Parameters
    ----------
    root : path-like
        Folder holding ``Train_AFEW`` and ``Val_AFEW`` (or their variants).
    subsets : tuple of {"train", "val"}
        Which subsets must be present and are read.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (absolute, str), ``emotion`` (lower-case FER2013
        name) and ``subset`` (``"train"`` or ``"val"``); training clips
        first.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a requested subset folder is missing.
    ValueError
        If an emotion folder is not one of the seven emotions, or a subset
        holds no video.

    Examples
    --------
    The generated demo data has AFEW's layout, so it reads the same way (a
    small tree here, written to a temporary folder):

    >>> import tempfile
    >>> from sk_emotion.datasets import make_expression_videos
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = make_expression_videos(tmp.name, n_train_per_class=1, n_val_per_class=1, n_frames=4,
    ...                            frame_size=(96, 96), face_size=(40, 60), emotions=["happy", "sad"])
    >>> frame = load_afew(tmp.name)
    >>> frame[["emotion", "subset"]].values.tolist()
    [['happy', 'train'], ['sad', 'train'], ['happy', 'val'], ['sad', 'val']]
    >>> tmp.cleanup()

    AFEW itself is licence-restricted and not distributed, so this part only
    runs where you have a copy (hence skipped here):

    >>> frame = load_afew("/data/AFEW")                        # doctest: +SKIP
    >>> frame.groupby("subset").size().to_dict()               # doctest: +SKIP
    {'train': 773, 'val': 383}
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"AFEW root '{root}' does not exist; expected {_EXPECTED_LAYOUT}")
    unknown = sorted(set(subsets) - set(_SUBSET_PATTERNS))
    if unknown:
        raise ValueError(f"unknown AFEW subset(s) {unknown}; expected 'train' and/or 'val'")

    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p)):
        subset = _subset_of(child.name)
        if subset is not None and subset not in found:
            found[subset] = child
    missing = [s for s in subsets if s not in found]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(
            f"AFEW root '{root}' has no {' or '.join(missing)} folder (found {present}); "
            f"expected {_EXPECTED_LAYOUT}"
        )

    rows = []
    for subset in subsets:
        folder = found[subset]
        n_before = len(rows)
        for emotion_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p)):
            emotion = canonical_emotion(emotion_dir.name)
            if emotion is None:
                raise ValueError(
                    f"unknown emotion folder '{emotion_dir}'; expected one of "
                    f"{list(AFEW_EMOTION_FOLDERS)} (any case)"
                )
            clips = list_clips(emotion_dir, VIDEO_EXTENSIONS)
            if not clips:
                warnings.warn(f"AFEW {subset} emotion folder '{emotion_dir}' holds no video; "
                              f"'{emotion}' is left out of {subset}", UserWarning, stacklevel=2)
            for clip in clips:
                rows.append({"path": str(clip.resolve()), "emotion": emotion, "subset": subset})
        if len(rows) == n_before:
            raise ValueError(
                f"AFEW {subset} folder '{folder}' holds no video; expected <Emotion>/*.avi inside it"
            )
    frame = pd.DataFrame(rows)
    frame["subset"] = pd.Categorical(frame["subset"], categories=["train", "val"])
    frame["emotion"] = pd.Categorical(frame["emotion"], categories=list(EMOTIONS))
    return frame.sort_values(["subset", "emotion", "path"], ignore_index=True).astype(
        {"subset": str, "emotion": str}
    )


def afew_predefined_split(frame: pd.DataFrame) -> PredefinedSplit:
    """Build scikit-learn's ``PredefinedSplit`` for AFEW's own train/validation protocol.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table from :func:`load_afew` (or any table with a ``subset`` column
        of ``"train"``/``"val"``), in the row order of the ``X`` and ``y``
        that will be split.

    Returns
    -------
    sklearn.model_selection.PredefinedSplit
        One split: train on the ``"train"`` rows, evaluate on the ``"val"``
        rows.  Use it as ``cv=`` in ``cross_val_score`` or ``GridSearchCV``.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"subset": ["train", "train", "val"]})
    >>> [(a.tolist(), b.tolist()) for a, b in afew_predefined_split(frame).split()]
    [([0, 1], [2])]
    """
    if "subset" not in frame:
        raise ValueError(f"the table needs a 'subset' column; it has {list(frame.columns)}")
    subset = frame["subset"].astype(str).to_numpy()
    bad = sorted(set(subset) - {"train", "val"})
    if bad:
        raise ValueError(f"unknown subset value(s) {bad}; expected 'train' or 'val'")
    if not (subset == "train").any() or not (subset == "val").any():
        raise ValueError("the split needs both 'train' and 'val' rows")
    from sklearn.model_selection import PredefinedSplit  # slow import: only when used

    return PredefinedSplit(np.where(subset == "val", 0, -1))
