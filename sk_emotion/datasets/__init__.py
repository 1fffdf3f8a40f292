"""Datasets: AFEW's layout and split, class-per-folder collections, generated demo data."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "AFEW_EMOTION_FOLDERS": ".afew",
    "afew_predefined_split": ".afew",
    "load_afew": ".afew",
    "canonical_emotion": ".folders",
    "load_video_folders": ".folders",
    "default_data_dir": ".synthetic",
    "load_expression_landmarks": ".synthetic",
    "make_expression_clip": ".synthetic",
    "make_expression_videos": ".synthetic",
    "make_scripted_video": ".synthetic",
    "PersonScript": ".synthetic",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .afew import AFEW_EMOTION_FOLDERS, afew_predefined_split, load_afew
    from .folders import canonical_emotion, load_video_folders
    from .synthetic import (
        PersonScript,
        default_data_dir,
        load_expression_landmarks,
        make_expression_clip,
        make_expression_videos,
        make_scripted_video,
    )
