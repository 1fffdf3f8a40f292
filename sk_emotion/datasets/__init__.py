"""Datasets: AFEW's layout and split, class-per-folder collections, generated demo data."""

from .afew import AFEW_EMOTION_FOLDERS, afew_predefined_split, load_afew
from .folders import canonical_emotion, load_video_folders

__all__ = [
    "AFEW_EMOTION_FOLDERS",
    "afew_predefined_split",
    "canonical_emotion",
    "load_afew",
    "load_video_folders",
]
