"""Class-per-folder video collections: ``root/<label>/<video or frame folder>``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..video.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "canonical_emotion", "is_hidden", "list_clips", "load_video_folders"]


# Folder names seen in emotion datasets, mapped to the FER2013 names.
_EMOTION_SYNONYMS = {
    "angry": "angry", "anger": "angry", "an": "angry",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "fe": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "ha": "happy",
    "sad": "sad", "sadness": "sad", "sa": "sad",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    "neutral": "neutral", "ne": "neutral",
}


def canonical_emotion(name: str) -> str | None:
    """The FER2013 emotion a folder name stands for (case-insensitive), or None.

    Parameters
    ----------
    name : str
        A folder name such as ``"Happy"``, ``"Happiness"`` or ``"HA"``;
        surrounding spaces are ignored.

    Returns
    -------
    str or None
        One of the seven lower-case FER2013 names (``"angry"``,
        ``"disgust"``, ``"fear"``, ``"happy"``, ``"sad"``, ``"surprise"``,
        ``"neutral"``), or None when ``name`` is not a known synonym.

    Examples
    --------
    >>> canonical_emotion("Happiness"), canonical_emotion("Anger"), canonical_emotion("Other")
    ('happy', 'angry', None)
    """
    return _EMOTION_SYNONYMS.get(name.strip().lower().replace("-", "_"))


def is_hidden(path: Path) -> bool:
    """Whether a file or folder is skipped when datasets are read.

    Parameters
    ----------
    path : pathlib.Path
        The file or folder.

    Returns
    -------
    bool
        True when its name starts with ``"."`` or ``"_"``.
    """
    return path.name.startswith((".", "_"))


def list_clips(folder: Path, extensions: Iterable[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Video files and image-sequence folders directly inside ``folder``, sorted by name.

    Parameters
    ----------
    folder : pathlib.Path
        The folder to list (not recursively).
    extensions : iterable of str, default=VIDEO_EXTENSIONS
        Video file extensions, with the dot (case-insensitive).

    Returns
    -------
    list of pathlib.Path
        Files with one of ``extensions`` and sub-folders holding at least
        one image of :data:`IMAGE_EXTENSIONS`; hidden entries (see
        :func:`is_hidden`) are skipped.
    """
    extensions = tuple(e.lower() for e in extensions)
    clips = []
    for entry in sorted(folder.iterdir()):
        if is_hidden(entry):
            continue
        if entry.is_file() and entry.suffix.lower() in extensions:
            clips.append(entry)
        elif entry.is_dir() and any(
            f.suffix.lower() in IMAGE_EXTENSIONS for f in entry.iterdir() if f.is_file()
        ):
            clips.append(entry)
    return clips


def load_video_folders(
    root: str | os.PathLike,
    *,
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
    label_map: Mapping[str, str] | None = None,
    emotions_only: bool = False,
) -> pd.DataFrame:
    """Read a collection laid out as one folder per class.

    Each class folder holds video files, or folders of frame images (one
    folder per clip, as in CK+-style sequences).

    Parameters
    ----------
    root : path-like
        Folder whose sub-folders are the classes.
    extensions : iterable of str
        Video file extensions to collect (case-insensitive).
    label_map : mapping, optional
        Folder name to label; folders absent from it keep their name.
    emotions_only : bool, default=False
        Map folder names to the FER2013 emotions ("Happiness" -> "happy") and
        refuse folders that are not emotions.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (absolute, as str) and ``label``, one row per clip,
        sorted by label then path.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    ValueError
        If it holds no class folder with clips, or (``emotions_only``) a
        folder name that is not an emotion.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for label in ("happy", "sad"):
    ...     (root / label).mkdir()
    ...     _ = (root / label / "clip1.avi").write_bytes(b"")
    >>> load_video_folders(root)["label"].tolist()
    ['happy', 'sad']
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder '{root}' does not exist")
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p)):
        label = (label_map or {}).get(folder.name, folder.name)
        if emotions_only:
            emotion = canonical_emotion(label)
            if emotion is None:
                raise ValueError(
                    f"folder '{folder}' is not an emotion; expected one of "
                    f"{sorted(set(_EMOTION_SYNONYMS.values()))} (any case or a common synonym)"
                )
            label = emotion
        clips = list_clips(folder, extensions)
        if not clips:
            # A class the user meant to train on would silently vanish from classes_.
            warnings.warn(f"class folder '{folder}' holds no clip with extensions {tuple(extensions)}; "
                          f"class {label!r} is left out", UserWarning, stacklevel=2)
        rows += [{"path": str(clip.resolve()), "label": label} for clip in clips]
    if not rows:
        raise ValueError(
            f"no clips found under '{root}': expected <root>/<class>/<video file or frame folder> "
            f"with extensions {tuple(extensions)}"
        )
    return pd.DataFrame(rows).sort_values(["label", "path"], ignore_index=True)
