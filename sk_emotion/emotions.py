"""The seven basic emotions the package recognises, in one place.

Their order is the pretrained FER2013 network's output order, which is also
the documented order of ``p_<emotion>`` columns in every table.
"""

from __future__ import annotations

__all__ = ["EMOTIONS"]

#: The seven FER2013 emotions, in the order of the pretrained network's outputs.
EMOTIONS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)
