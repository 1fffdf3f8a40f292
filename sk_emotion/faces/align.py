"""Face alignment: five-point similarity warps to a template, and box crops.

Coordinates are in pixels with pixel *centres* at integer positions (the
convention of OpenCV, of MTCNN's landmarks and of the ArcFace template), so
that pixel ``(i, j)`` of an aligned face shows the image point the
similarity maps to ``(j, i)``.

A template gives the five points (left eye, right eye, nose, left and right
mouth corners, "left" = smaller x in the image) as fractions of the crop's
side, ``(coord + 0.5) / side``.  Two are built in:

``"fer2013"`` (the default)
    The framing of the faces the FER2013 backbone learnt: the median of MTCNN
    landmarks over 3,000 FER2013 training faces (eye distance 0.37 of the
    width, eyes at 0.39 of the height, mouth corners at 0.78), declared by
    :class:`~sk_emotion.weights.MiniXceptionWeights` as part of its
    preprocessing.  Faces framed like this are what the pretrained network
    reads best; see ``docs/extractor.md`` for the measurements.
``"arcface"``
    insightface's ArcFace 112x112 template (eyes at 46% of the height, mouth
    at 82%, eye distance 31% of the width), looser than FER2013's.

``margin`` adds context: the output covers the template square grown by
``margin`` of its side on every side, so each 0.1 of margin shrinks the face
by a factor ``1 + 2 * 0.1``.  Pixels outside the image are filled by
replicating the image border by default: black borders measurably hurt the
FER2013 network.

Large downscales are anti-aliased: the warp is done at an integer multiple of
the output size and reduced with area interpolation, so that a 300-pixel face
aligned to 64x64 does not alias.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "ARCFACE_TEMPLATE",
    "FER2013_TEMPLATE",
    "TEMPLATES",
    "canonical_template",
    "template_points",
    "estimate_similarity",
    "align_face",
    "crop_box",
    "cut_face",
]

#: Context added around a detector box when a face has no landmarks.  The
#: FER2013 template square is 0.92 of MTCNN's box side (median over 133 faces,
#: IQR 0.86-0.97) and centred on it, hence a slightly tighter square.
BOX_MARGIN = -0.04

#: insightface's ArcFace template for 112x112 crops: (x, y) of left eye, right
#: eye, nose, left mouth corner, right mouth corner.
ARCFACE_TEMPLATE: np.ndarray = np.array(
    [[38.2946, 51.6963],
     [73.5318, 51.5014],
     [56.0252, 71.7366],
     [41.5493, 92.3655],
     [70.7299, 92.2041]],
    dtype=np.float64,
)
ARCFACE_TEMPLATE.setflags(write=False)
_TEMPLATE_SIZE = 112.0

#: Where FER2013 puts the face: left eye, right eye, nose, left and right mouth
#: corners as ``(coord + 0.5) / side``, the median of MTCNN landmarks over 3,000
#: FER2013 training faces, made left-right symmetric (benchmarks/fer2013_framing.py).
#: Backbones trained on FER2013's faces declare it as their ``face_template``.
FER2013_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.3158, 0.3868), (0.6842, 0.3868), (0.5000, 0.6011), (0.3462, 0.7773), (0.6538, 0.7773),
)

#: Names accepted for ``template``: the ArcFace template and templates declared
#: by pretrained backbone weights (``transforms["face_template"]``).
TEMPLATES = ("fer2013", "arcface")

_BORDER_MODES = {
    "constant": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
}


def _check_face_size(face_size: int) -> int:
    if isinstance(face_size, bool) or not isinstance(face_size, (int, np.integer)) or face_size < 1:
        raise ValueError(f"face_size must be a positive int, got {face_size!r}")
    return int(face_size)


def _check_margin(margin: float) -> float:
    if not isinstance(margin, (int, float, np.floating)) or not margin > -0.5:
        raise ValueError(f"margin must be a number > -0.5, got {margin!r}")
    return float(margin)


def template_points(template: str | Sequence[Sequence[float]] = "fer2013") -> np.ndarray:
    """The five template points as fractions of the crop side, ``(coord + 0.5) / side``.

    Parameters
    ----------
    template : {"fer2013", "arcface"} or array-like of shape (5, 2), default="fer2013"
        A built-in template (see the module docstring) or five ``(x, y)``
        points in ``[0, 1]``: left eye, right eye, nose, left and right mouth
        corners.

    Returns
    -------
    numpy.ndarray of shape (5, 2), float64
        ``(x, y)`` of the five points as fractions of the crop's side.

    Raises
    ------
    ValueError
        On an unknown template name, or points that are not five finite
        ``(x, y)`` pairs with the left eye left of the right eye.
    """
    if isinstance(template, str):
        if template == "arcface":
            return (ARCFACE_TEMPLATE + 0.5) / _TEMPLATE_SIZE
        if template == "fer2013":
            return np.asarray(FER2013_TEMPLATE, dtype=np.float64)
        raise ValueError(f"template must be one of {TEMPLATES} or 5 (x, y) points, got {template!r}")
    points = np.asarray(template, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"template must be 5 finite (x, y) points in [0, 1], got shape {points.shape}")
    if points[0, 0] >= points[1, 0]:
        raise ValueError("template: the left eye (row 0) must have a smaller x than the right eye (row 1)")
    return points


def canonical_template(face_size: int = 64, margin: float = 0.0,
                       template: str | Sequence[Sequence[float]] = "fer2013") -> np.ndarray:
    """Five-point template in the pixels of a ``face_size`` x ``face_size`` aligned face.

    Parameters
    ----------
    face_size : int, default=64
        Side of the aligned face in pixels.
    margin : float, default=0.0
        Extra context around the template square, as a fraction of its side
        added on each side; must be > -0.5 (negative values zoom in).
    template : {"fer2013", "arcface"} or array-like of shape (5, 2), default="fer2013"
        See :func:`template_points`.

    Returns
    -------
    numpy.ndarray of shape (5, 2), float64
        ``(x, y)`` of left eye, right eye, nose, left and right mouth corners,
        with pixel centres at integers: ``(p + margin) / (1 + 2 * margin) *
        face_size - 0.5`` for template fractions ``p``.
    """
    face_size = _check_face_size(face_size)
    margin = _check_margin(margin)
    return (template_points(template) + margin) / (1.0 + 2.0 * margin) * face_size - 0.5


def estimate_similarity(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst.

    Umeyama's closed form (1991), without reflections.

    Parameters
    ----------
    src_pts, dst_pts : array-like of shape (n, 2)
        Corresponding points, n >= 2.

    Returns
    -------
    numpy.ndarray of shape (2, 3), float64
        ``M`` such that ``dst ~= src @ M[:, :2].T + M[:, 2]`` (the matrix
        :func:`cv2.warpAffine` takes).

    Raises
    ------
    ValueError
        On mismatched or too few points, non-finite values, or all source
        points coinciding.
    """
    src = np.asarray(src_pts, dtype=np.float64)
    dst = np.asarray(dst_pts, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 2:
        raise ValueError("src_pts and dst_pts must both have shape (n, 2) with n >= 2, "
                         f"got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("src_pts and dst_pts must be finite")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / src.shape[0]
    if src_var <= 1e-12:
        raise ValueError("the source points all coincide: no similarity is defined")
    cov = dst_c.T @ src_c / src.shape[0]
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # best fit is a reflection: flip one axis
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def _warp(image: np.ndarray, matrix: np.ndarray, face_size: int, border: str) -> np.ndarray:
    """Warp with the (2, 3) image->output ``matrix``, anti-aliased when shrinking."""
    if border not in _BORDER_MODES:
        raise ValueError(f"border must be one of {sorted(_BORDER_MODES)}, got {border!r}")
    # Output pixels per image pixel; below 1/2, warp at factor * face_size
    # first and average factor x factor blocks (area interpolation).
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = max(1, int(np.floor(1.0 / max(scale, 1e-6))))
    factor = min(factor, max(1, 4096 // face_size))  # bound the intermediate image
    if factor > 1:
        # Output pixel i covers intermediate pixels factor*i .. factor*i + factor - 1,
        # whose centre is factor*i + (factor - 1) / 2.
        matrix = matrix * factor
        matrix[:, 2] += (factor - 1) / 2.0
    size = face_size * factor
    squeeze = image.ndim == 3 and image.shape[2] == 1
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=_BORDER_MODES[border], borderValue=0)
    if factor > 1:
        warped = cv2.resize(warped, (face_size, face_size), interpolation=cv2.INTER_AREA)
    if squeeze and warped.ndim == 2:
        warped = warped[:, :, None]
    return warped


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    face_size: int = 64,
    margin: float = 0.0,
    border: str = "replicate",
    template: str | Sequence[Sequence[float]] = "fer2013",
) -> np.ndarray:
    """Warp a face so that its five landmarks land on :func:`canonical_template`.

    Parameters
    ----------
    image : numpy.ndarray of shape (H, W[, C]), uint8
        The image (any channel order; it is not changed).
    landmarks : array-like of shape (5, 2)
        ``(x, y)`` of left eye, right eye, nose, left and right mouth corners
        in image pixels, e.g. ``Detections.landmarks[i]`` from
        :class:`sk_emotion.faces.MTCNNDetector`.
    face_size : int, default=64
        Side of the output.
    margin : float, default=0.0
        Context around the template square, see :func:`canonical_template`.
    border : {"replicate", "constant", "reflect"}, default="replicate"
        How pixels outside the image are filled ("constant" = black).
    template : {"fer2013", "arcface"} or array-like of shape (5, 2), default="fer2013"
        Where the landmarks go, see :func:`template_points`.

    Returns
    -------
    numpy.ndarray of shape (face_size, face_size[, C]), uint8
        The aligned face, with the channels of ``image``.
    """
    image = _check_image(image)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {points.shape}")
    matrix = estimate_similarity(points, canonical_template(face_size, margin, template))
    return _warp(image, matrix, face_size, border)


def crop_box(
    image: np.ndarray,
    box: Sequence[float] | np.ndarray | None,
    face_size: int = 64,
    margin: float = 0.0,
    border: str = "replicate",
) -> np.ndarray:
    """Square crop centred on a box, resized to ``face_size`` (no landmarks needed).

    Used when landmarks are unavailable.  The square's side is the box's
    longer side times ``1 + 2 * margin`` (``margin`` = fraction of the side
    added on each side).  With ``box=None`` the square is centred on the
    image with the image's shorter side as the box side (a centred crop, for
    pre-cropped faces or when no detector is used).

    Parameters
    ----------
    image : numpy.ndarray of shape (H, W[, C]), uint8
        The image (any channel order; it is not changed).
    box : array-like of 4 floats or None
        ``x1, y1, x2, y2`` in pixels (e.g. ``Detections.boxes[i]``).
    face_size : int, default=64
        Side of the output.
    margin : float, default=0.0
        Must be > -0.5.
    border : {"replicate", "constant", "reflect"}, default="replicate"
        How pixels outside the image are filled.

    Returns
    -------
    numpy.ndarray of shape (face_size, face_size[, C]), uint8
        The square crop, with the channels of ``image``.
    """
    image = _check_image(image)
    face_size = _check_face_size(face_size)
    margin = _check_margin(margin)
    height, width = image.shape[:2]
    if box is None:
        side = float(min(height, width))
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    else:
        b = np.asarray(box, dtype=np.float64)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise ValueError(f"box must be 4 finite numbers x1, y1, x2, y2, got {box!r}")
        if b[2] < b[0] or b[3] < b[1]:
            raise ValueError(f"box must have x2 >= x1 and y2 >= y1, got {box!r}")
        side = max(b[2] - b[0], b[3] - b[1], 1.0)
        centre = np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])
    side *= 1.0 + 2.0 * margin
    # Map the square [centre - side/2, centre + side/2] onto the output pixels'
    # extent [-0.5, face_size - 0.5] (pixel centres at integers).
    scale = face_size / side
    matrix = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
    matrix[:, 2] = (face_size - 1) / 2.0 - scale * centre
    return _warp(image, matrix, face_size, border)


def cut_face(
    image: np.ndarray,
    landmarks: np.ndarray | None,
    box: Sequence[float] | np.ndarray | None,
    face_size: int = 64,
    margin: float = 0.0,
    template: str | Sequence[Sequence[float]] = "fer2013",
) -> np.ndarray:
    """The face the extractor cuts: aligned on its landmarks, else a square around its box.

    Parameters
    ----------
    image : numpy.ndarray of shape (H, W[, C]), uint8
        The frame.
    landmarks : array-like of shape (5, 2) or None
        The face's five landmarks; used when all are finite.
    box : array-like of 4 floats or None
        The detector's box, used without landmarks (with
        :data:`BOX_MARGIN` more context than ``margin``, to frame the face
        as the template does).
    face_size : int, default=64
        Side of the output.
    margin : float, default=0.0
        Context around the template (see :func:`align_face`).
    template : str or array-like of shape (5, 2), default="fer2013"
        See :func:`template_points`.

    Returns
    -------
    numpy.ndarray of shape (face_size, face_size[, C]), uint8
        The face, with the channels of ``image``.
    """
    if landmarks is not None and np.isfinite(np.asarray(landmarks, np.float64)).all():
        return align_face(image, landmarks, face_size, margin, template=template)
    return crop_box(image, box, face_size, margin + BOX_MARGIN)
