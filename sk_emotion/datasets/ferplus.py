"""FER+ crowd votes on FER2013's training faces, joined with FER2013's original labels.

FER+ (Barsoum et al., 2016) re-labelled every FER2013 face with ten
annotators; its ``label.csv`` holds, per 48x48 PNG, the votes for neutral,
happiness, surprise, sadness, anger, disgust, fear, contempt, unknown and
"not a face".  Those labels are far cleaner than FER2013's, but thin exactly
where emotion recognisers fail (disgust, fear), so :func:`load_ferplus` can
also recover FER2013's original label of each face from a class-per-folder
copy of FER2013's training split, whose file names are not row numbers: the
faces are matched by their pixels (the copies differ by JPEG noise only).

Only training faces belong here: FER2013's test faces (FER+'s ``FER2013Valid``
and ``FER2013Test``) are for evaluation and are refused by name.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emotions import EMOTIONS

__all__ = ["FERPLUS_COLUMNS", "FerPlus", "load_ferplus", "stratified_holdout"]

#: The vote columns of FER+'s ``label.csv``, in its order.
FERPLUS_COLUMNS: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear",
                                    "contempt", "unknown", "not_face")

#: FER2013 class-folder names (several spellings seen in public copies) to EMOTIONS.
_FOLDER_NAMES = {"angry": "angry", "anger": "angry", "disgust": "disgust", "fear": "fear",
                 "happy": "happy", "happiness": "happy", "sad": "sad", "sadness": "sad",
                 "surprise": "surprise", "neutral": "neutral"}
_TEST_FOLDERS = ("FER2013Valid", "FER2013Test", "PublicTest", "PrivateTest")


@dataclass
class FerPlus:
    """Faces with their FER+ votes and FER2013 labels.

    Parameters
    ----------
    images : numpy.ndarray of shape (n, 48, 48), uint8
        The gray faces.
    votes : numpy.ndarray of shape (n, 7), float32
        Votes for each of :data:`~sk_emotion.emotions.EMOTIONS` (contempt,
        unknown and not-a-face votes dropped).
    fer2013 : numpy.ndarray of shape (n,), int64
        Index into EMOTIONS of FER2013's original label, -1 where no match
        was found (or no FER2013 folder given).
    names : numpy.ndarray of shape (n,), str
        File names in the FER+ folder.
    """

    images: np.ndarray
    votes: np.ndarray
    fer2013: np.ndarray
    names: np.ndarray

    @property
    def majority(self) -> np.ndarray:
        """Index of the most voted emotion, -1 where the top is tied."""
        top = self.votes.max(axis=1, keepdims=True)
        unique = (self.votes == top).sum(axis=1) == 1
        return np.where(unique, self.votes.argmax(axis=1), -1)

    def __len__(self) -> int:
        return len(self.images)


def _refuse_test_split(path: Path) -> None:
    for part in path.resolve().parts:
        if part in _TEST_FOLDERS or part.lower() == "test":
            raise ValueError(f"'{path}' is a FER2013 test split ({part}); train and select on "
                             "training faces only")


def _read_gray(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"'{path}' is not a readable image")
    if image.shape != (48, 48):
        image = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
    return image


def _signature(images: np.ndarray) -> np.ndarray:
    """12x12 block means, centred: robust to JPEG noise and to uniform brightness changes."""
    small = images.reshape(len(images), 12, 4, 12, 4).astype(np.float32).mean(axis=(2, 4))
    small = small.reshape(len(images), -1)
    return small - small.mean(axis=1, keepdims=True)


def _match_labels(images: np.ndarray, fer2013_root: Path, max_difference: float) -> np.ndarray:
    """FER2013 label of each image by nearest picture in ``fer2013_root/<emotion>/``, -1 if none is close."""
    refs, labels = [], []
    for folder in sorted(p for p in fer2013_root.iterdir() if p.is_dir()):
        emotion = _FOLDER_NAMES.get(folder.name.lower())
        if emotion is None:
            continue
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
                refs.append(_read_gray(file))
                labels.append(EMOTIONS.index(emotion))
    if not refs:
        raise ValueError(f"'{fer2013_root}' has no class folders of images ({sorted(_FOLDER_NAMES)})")
    ref_images = np.stack(refs)
    ref_labels = np.asarray(labels)
    ref_sig = _signature(ref_images)
    ref_norm = (ref_sig ** 2).sum(axis=1)
    sig = _signature(images)
    out = np.full(len(images), -1, dtype=np.int64)
    for start in range(0, len(images), 2048):
        block = sig[start:start + 2048]
        dist = (block ** 2).sum(axis=1, keepdims=True) - 2 * block @ ref_sig.T + ref_norm
        best = dist.argmin(axis=1)
        diff = np.abs(images[start:start + 2048].astype(np.float32)
                      - ref_images[best].astype(np.float32)).mean(axis=(1, 2))
        out[start:start + 2048] = np.where(diff <= max_difference, ref_labels[best], -1)
    return out


def load_ferplus(ferplus_dir: str | os.PathLike, fer2013_dir: str | os.PathLike | None = None, *,
                 max_difference: float = 6.0, limit: int | None = None) -> FerPlus:
    """Load FER+ training faces and votes, optionally with FER2013's original labels.

    Faces whose votes are mostly "unknown" or "not a face", or that have no
    emotion vote at all, are left out (as FER+'s authors do).

    Parameters
    ----------
    ferplus_dir : path-like
        FER+'s ``FER2013Train`` folder: PNGs and ``label.csv``.
    fer2013_dir : path-like, optional
        FER2013's training split as ``<emotion>/<image>`` folders; each face
        gets the label of its nearest picture there.
    max_difference : float, default=6.0
        Largest mean absolute grey-level difference of a match (JPEG copies
        differ by about 1.3).
    limit : int, optional
        Read only the first ``limit`` faces (smoke tests).

    Returns
    -------
    FerPlus
        The faces, votes, FER2013 labels and names.

    Raises
    ------
    FileNotFoundError
        If a folder or ``label.csv`` is missing.
    ValueError
        For a FER2013 test split, or a malformed ``label.csv``.
    """
    root = Path(ferplus_dir)
    label_file = root / "label.csv"
    if not root.is_dir():
        raise FileNotFoundError(f"FER+ folder '{root}' does not exist")
    if not label_file.is_file():
        raise FileNotFoundError(f"'{label_file}' does not exist: ferplus_dir is FER+'s FER2013Train folder")
    _refuse_test_split(root)
    images, votes, names = [], [], []
    with open(label_file, newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 2 + len(FERPLUS_COLUMNS):
                raise ValueError(f"'{label_file}' line {line}: expected {2 + len(FERPLUS_COLUMNS)} fields, "
                                 f"got {len(row)}")
            counts = np.asarray([float(v) for v in row[2:]], dtype=np.float32)
            emotion_votes = counts[:7]
            if emotion_votes.sum() == 0 or counts[8:].max() > emotion_votes.max():
                continue
            images.append(_read_gray(root / row[0]))
            votes.append([emotion_votes[FERPLUS_COLUMNS.index(e)] for e in EMOTIONS])
            names.append(row[0])
            if limit is not None and len(images) >= limit:
                break
    faces = np.stack(images)
    fer2013 = np.full(len(faces), -1, dtype=np.int64)
    if fer2013_dir is not None:
        fer_root = Path(fer2013_dir)
        if not fer_root.is_dir():
            raise FileNotFoundError(f"FER2013 folder '{fer_root}' does not exist")
        _refuse_test_split(fer_root)
        fer2013 = _match_labels(faces, fer_root, max_difference)
    return FerPlus(faces, np.asarray(votes, dtype=np.float32), fer2013, np.asarray(names))


def stratified_holdout(labels: np.ndarray, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Boolean mask of a held-out ``fraction`` of every class (by image).

    Parameters
    ----------
    labels : numpy.ndarray of shape (n,)
        Class of each image (any hashable values; -1 is a class like others).
    fraction : float, default=0.1
        Share of each class held out (at least one image of a class with two).
    seed : int, default=0
        Seed of the shuffle.

    Returns
    -------
    numpy.ndarray of shape (n,), bool
        True for held-out images.
    """
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        n = int(round(fraction * len(idx)))
        if n == 0 and len(idx) >= 2:
            n = 1
        mask[rng.permutation(idx)[:n]] = True
    return mask
