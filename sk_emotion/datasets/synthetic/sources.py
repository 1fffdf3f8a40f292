"""The real faces the generator animates: source photos shipped by installed packages, normalised to the canvas.

Detection and normalisation run once per process (cached), so that every
clip pastes the same upright faces whatever the detector's speed settings.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...faces.align import ARCFACE_TEMPLATE, estimate_similarity
from ._canvas import _CANVAS_H, _CANVAS_W, _ED, _EYE_CENTRE

# Head-and-neck mask: ellipse centre below the eyes, semi-axes, feather (in _ED).
_MASK_CENTRE_DY, _MASK_AX, _MASK_AY, _MASK_FEATHER = 0.45, 1.45, 2.0, 0.15


@dataclass(frozen=True)
class FaceSource:
    """One real face, normalised to the actor canvas.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    identity : str
        Name of the face (``"t1_0"`` ... ``"t1_5"`` left to right in
        insightface's group photo, ``"astronaut"``, ``"tom_hanks"``).
    photo : str
        Where the photo comes from.
    canvas : numpy.ndarray of shape (224, 176, 3), uint8
        The upright face, RGB, its landmarks fitted to the ArcFace template
        scaled to a 40 px eye distance.
    mask : numpy.ndarray of shape (224, 176), float32
        Soft head-and-neck mask in [0, 1].
    landmarks : numpy.ndarray of shape (5, 2), float64
        The detector's five landmarks mapped onto the canvas.
    box : numpy.ndarray of shape (4,), float64
        The detector's box mapped onto the canvas (``x1, y1, x2, y2``, axis
        aligned around the mapped corners).
    """

    identity: str
    photo: str
    canvas: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    box: np.ndarray

    def mirrored(self) -> FaceSource:
        """The same face flipped left-right (landmarks relabelled left/right).

        Returns
        -------
        FaceSource
            A new source with the canvas, mask, landmarks and box mirrored;
            the same identity and photo.
        """
        w = _CANVAS_W - 1.0
        lm = self.landmarks.copy()
        lm[:, 0] = w - lm[:, 0]
        lm = lm[[1, 0, 2, 4, 3]]
        box = np.array([w - self.box[2], self.box[1], w - self.box[0], self.box[3]])
        return FaceSource(self.identity, self.photo, np.ascontiguousarray(self.canvas[:, ::-1]),
                          np.ascontiguousarray(self.mask[:, ::-1]), lm, box)


def _insightface_images() -> Path | None:
    # Located without importing insightface (its import takes seconds).
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read source photo '{path}'")
    return np.ascontiguousarray(image[..., ::-1])


def _source_photos() -> list[tuple[str, str, np.ndarray, int]]:
    """(identity prefix, description, RGB photo, expected number of faces)."""
    from skimage import data

    photos = []
    folder = _insightface_images()
    if folder is not None and (folder / "t1.jpg").is_file():
        photos.append(("t1", "insightface/data/images/t1.jpg", _read_rgb(folder / "t1.jpg"), 6))
    photos.append(("astronaut", "skimage.data.astronaut()", data.astronaut(), 1))
    if folder is not None and (folder / "Tom_Hanks_54745.png").is_file():
        photos.append(("tom_hanks", "insightface/data/images/Tom_Hanks_54745.png",
                       _read_rgb(folder / "Tom_Hanks_54745.png"), 1))
    return photos


def _mask() -> np.ndarray:
    ys, xs = np.mgrid[0:_CANVAS_H, 0:_CANVAS_W].astype(np.float32)
    cx, cy = _EYE_CENTRE[0], _EYE_CENTRE[1] + _MASK_CENTRE_DY * _ED
    r = np.sqrt(((xs - cx) / (_MASK_AX * _ED)) ** 2 + ((ys - cy) / (_MASK_AY * _ED)) ** 2)
    # Linear feather across the ellipse's edge, then smoothed: no visible seam.
    feather = _MASK_FEATHER * _ED / (_MASK_AX * _ED)
    mask = np.clip((1.0 - r) / feather + 0.5, 0.0, 1.0)
    return cv2.GaussianBlur(mask, (0, 0), 2.0)


def _canvas_template() -> np.ndarray:
    # The ArcFace template scaled to the canvas's eye distance, eyes centred on _EYE_CENTRE.
    arc_eye = (ARCFACE_TEMPLATE[0] + ARCFACE_TEMPLATE[1]) / 2
    arc_ed = float(np.linalg.norm(ARCFACE_TEMPLATE[1] - ARCFACE_TEMPLATE[0]))
    return (ARCFACE_TEMPLATE - arc_eye) * (_ED / arc_ed) + _EYE_CENTRE


@functools.lru_cache(maxsize=1)
def face_sources() -> tuple[FaceSource, ...]:
    """The real faces the generator animates, found once per process.

    Runs :class:`~sk_emotion.faces.MTCNNDetector` (with a larger minimum
    face size, for speed, and the exact TensorFlow pyramid, so that the
    generated videos do not change with the detector's speed settings) on
    each source photo, keeps faces of at
    least 60 px with score >= 0.95, and normalises each to the actor canvas.
    Landmarks are rounded to 1/8 px so that tiny floating-point differences
    between machines do not change the generated videos.

    Returns
    -------
    tuple of FaceSource
        Eight faces when insightface's images are installed (six from
        ``t1.jpg``, the astronaut, Tom Hanks), else the astronaut alone.
    """
    from ...faces.mtcnn_detector import MTCNNDetector

    detector = MTCNNDetector(min_face_size=40, pyramid="exact")
    template = _canvas_template()
    mask = _mask()
    sources = []
    for prefix, photo_name, photo, expected in _source_photos():
        found = detector.detect(photo)
        side = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
        keep = (found.scores >= 0.95) & (side >= 60)
        boxes, landmarks = found.boxes[keep], found.landmarks[keep]
        order = np.argsort(boxes[:, 0], kind="stable")  # left to right: stable names
        for rank, i in enumerate(order[:expected]):
            lm = np.round(landmarks[i].astype(np.float64) * 8) / 8
            box = np.round(boxes[i].astype(np.float64) * 8) / 8
            matrix = estimate_similarity(lm, template)
            canvas = cv2.warpAffine(photo, matrix, (_CANVAS_W, _CANVAS_H), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE)
            # Restrict the mask to where the photo has pixels (Tom Hanks' photo
            # is a tight 112x112 crop): no smeared border gets pasted.
            inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), matrix,
                                    (_CANVAS_W, _CANVAS_H), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            inside = cv2.GaussianBlur(cv2.erode(inside, np.ones((5, 5), np.uint8)), (0, 0), 1.5)
            lm_c = lm @ matrix[:, :2].T + matrix[:, 2]
            corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
            corners = corners @ matrix[:, :2].T + matrix[:, 2]
            box_c = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
            identity = f"{prefix}_{rank}" if expected > 1 else prefix
            sources.append(FaceSource(identity, photo_name, canvas, mask * inside, lm_c, box_c))
    if not sources:
        raise RuntimeError("no face found in the source photos; is scikit-image installed?")
    return tuple(sources)
