"""Datasets: AFEW's layout and split, class-per-folder collections, generated demo data."""

from .afew import AFEW_EMOTION_FOLDERS, afew_predefined_split, load_afew
from .folders import canonical_emotion, load_video_folders
from .synthetic import (
    default_data_dir,
    load_expression_landmarks,
    make_expression_clip,
    make_expression_videos,
)

__all__ = [
    "AFEW_EMOTION_FOLDERS",
    "afew_predefined_split",
    "canonical_emotion",
    "default_data_dir",
    "load_expression_landmarks",
    "make_expression_clip",
    "make_expression_videos",
    "load_afew",
    "load_video_folders",
]
