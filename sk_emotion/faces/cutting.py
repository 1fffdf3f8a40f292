"""From followed faces to the clip a classifier reads: cutting, coverage, filling the gaps.

The clip extractor (:class:`~sk_emotion.estimators.extractor.VideoFaceExtractor`)
and the timeline (:func:`~sk_emotion.timeline.emotion_timeline`) turn the
faces they followed into clips the same way, with these:

- :class:`FaceCutter` cuts a face out of a frame (aligned on its
  landmarks, else a square around its box) and converts its colour;
- :func:`enough_faces` says whether a face was found in enough of a clip's
  sampled frames to be classified;
- :func:`nearest_detected` says which frame a sampled frame without the
  face borrows it from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..preprocessing import to_color
from .align import crop_box, cut_face

__all__ = ["FaceCutter", "enough_faces", "nearest_detected"]


@dataclass(frozen=True, eq=False)
class FaceCutter:
    """How faces are cut out of frames: size, colour, template and margin.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    face_size : int
        Side of the output faces, in pixels.
    color : {"gray", "rgb"}
        Output colour (see :func:`~sk_emotion.preprocessing.to_color`).
    template : numpy.ndarray of shape (5, 2)
        Where the five landmarks go, as fractions of the side (see
        :func:`~sk_emotion.faces.align.template_points`).
    margin : float
        Context around the template square (or the box), as a fraction of
        its side added on each side.
    """

    face_size: int
    color: str
    template: np.ndarray
    margin: float

    @property
    def channels(self) -> int:
        """Channels of the output faces: 1 for gray, 3 for RGB."""
        return 1 if self.color == "gray" else 3

    def _planar(self, rgb: np.ndarray) -> np.ndarray:
        # Cut from the RGB frame, converted afterwards: the luma of a warped face
        # is the warp of the luma (both linear), and converting a 64x64 face
        # instead of a 720x576 frame saves about 5 ms a video.
        face = to_color(rgb.reshape(1, self.face_size, self.face_size, -1), self.color)[0]
        return face.transpose(2, 0, 1)

    def cut(self, frame: np.ndarray, landmarks: np.ndarray | None, box: np.ndarray | None) -> np.ndarray:
        """The face of one frame, aligned on its landmarks (else a square around its box).

        Parameters
        ----------
        frame : numpy.ndarray of shape (H, W, 3), uint8
            The RGB frame.
        landmarks : array-like of shape (5, 2) or None
            The face's five landmarks; used when all are finite.
        box : array-like of 4 floats or None
            The detector's box, used without landmarks.

        Returns
        -------
        numpy.ndarray of shape (channels, face_size, face_size), uint8
            The face (see :func:`~sk_emotion.faces.align.cut_face`).
        """
        return self._planar(cut_face(frame, landmarks, box, self.face_size, self.margin, self.template))

    def cut_clip(self, frames: Sequence[np.ndarray], landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The face of every frame of a clip (see :meth:`cut`).

        Parameters
        ----------
        frames : sequence of numpy.ndarray of shape (H, W, 3), uint8
            The RGB frames.
        landmarks : numpy.ndarray of shape (n_frames, 5, 2)
            The face's landmarks per frame.
        boxes : numpy.ndarray of shape (n_frames, 4)
            The face's box per frame.

        Returns
        -------
        numpy.ndarray of shape (n_frames, channels, face_size, face_size), uint8
            The faces.
        """
        out = np.empty((len(frames), self.channels, self.face_size, self.face_size), np.uint8)
        for t, frame in enumerate(frames):
            out[t] = self.cut(frame, landmarks[t], boxes[t])
        return out

    def resize_clip(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames that already are faces (no detector), resized to ``face_size`` and converted.

        Parameters
        ----------
        frames : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB face crops.

        Returns
        -------
        numpy.ndarray of shape (n_frames, channels, face_size, face_size), uint8
            The whole of each frame, squeezed to a square (anti-aliased when shrinking).
        """
        out = np.empty((len(frames), self.channels, self.face_size, self.face_size), np.uint8)
        for t, frame in enumerate(frames):
            h, w = frame.shape[:2]
            interp = cv2.INTER_AREA if (h > self.face_size or w > self.face_size) else cv2.INTER_LINEAR
            out[t] = self._planar(cv2.resize(frame, (self.face_size, self.face_size), interpolation=interp))
        return out

    def centre_clip(self, frames: np.ndarray) -> np.ndarray:
        """A centred square crop of every frame, converted (the stand-in for a clip without faces).

        Parameters
        ----------
        frames : numpy.ndarray of shape (n_frames, H, W, 3), uint8
            RGB frames.

        Returns
        -------
        numpy.ndarray of shape (n_frames, channels, face_size, face_size), uint8
            The square of side ``min(H, W)`` at the centre of each frame.
        """
        colored = to_color(frames, self.color)
        return np.stack([crop_box(f, None, self.face_size, 0.0).reshape(self.face_size, self.face_size, -1)
                         .transpose(2, 0, 1) for f in colored])


def enough_faces(n_found: int, n_sampled: int, min_face_coverage: float) -> bool:
    """Whether a face found in ``n_found`` of ``n_sampled`` frames may be classified.

    At least one frame, and at least ``min_face_coverage`` of them (a single
    false detection on a wall must not give a confident answer).

    Parameters
    ----------
    n_found : int
        Sampled frames where the face was detected.
    n_sampled : int
        Sampled frames of the clip (or window).
    min_face_coverage : float
        Smallest share of the frames, in [0, 1].

    Returns
    -------
    bool
        True when the clip has enough detected faces.
    """
    return n_found >= max(1, math.ceil(min_face_coverage * n_sampled - 1e-9))


def nearest_detected(detected: np.ndarray) -> np.ndarray:
    """For each sampled frame, the nearest frame where the face was detected (earlier on ties).

    A frame without the face borrows the face of that frame; a frame with
    it is its own.

    Parameters
    ----------
    detected : array-like of shape (n_frames,), bool
        Whether the face was detected in each frame.

    Returns
    -------
    numpy.ndarray of shape (n_frames,), int64
        Index of the frame each frame takes its face from; -1 everywhere
        when no frame has the face.

    Examples
    --------
    >>> nearest_detected(np.array([False, True, False, False, True])).tolist()
    [1, 1, 1, 4, 4]
    """
    detected = np.asarray(detected, bool)
    hits = np.flatnonzero(detected)
    if hits.size == 0:
        return np.full(detected.size, -1, np.int64)
    # The first detected frame at or after each frame, and the one before it.
    after = np.minimum(np.searchsorted(hits, np.arange(detected.size)), hits.size - 1)
    before = np.maximum(after - 1, 0)
    t = np.arange(detected.size)
    earlier_nearer = np.abs(hits[before] - t) <= np.abs(hits[after] - t)
    return np.where(earlier_nearer, hits[before], hits[after]).astype(np.int64)
