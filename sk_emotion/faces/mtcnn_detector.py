"""MTCNN face detector (Zhang et al., 2016): the three-stage cascade in PyTorch.

The cascade reproduces ``mtcnn`` 1.0.0, whose weights it uses:

1. **P-Net** runs on an image pyramid (scales ``12 / min_face_size *
   scale_factor**k`` while the short side stays >= 12 pixels), each level made
   by area interpolation.  Every output position whose face probability
   exceeds ``thresholds[0]`` gives a 12x12-window box, regressed and mapped
   back to the image; boxes are suppressed per level (IoU 0.5), then across
   levels (IoU 0.7), then made square.
2. **R-Net** scores 24x24 bilinear crops of those boxes (pixels outside the
   image are mid-grey), regresses them, keeps scores above ``thresholds[1]``,
   suppresses overlaps (IoU 0.7) and makes the boxes square.
3. **O-Net** scores 48x48 crops, regresses the boxes and predicts the five
   landmarks, keeps scores above ``thresholds[2]`` and suppresses overlaps by
   intersection over the smaller box (0.7).  Boxes are finally clipped to the
   image; landmarks are not.

Two deliberate differences from ``mtcnn`` 1.0.0: the pyramid stops when the
short side falls below 12 pixels (mtcnn's count formula is only right for
``min_face_size=20``), and the non-maximum suppression is the classic greedy
one (mtcnn also drops boxes overlapping an already *dropped* box).  On the
reference photos the boxes agree to within a few pixels.

Speed
-----
Most of the time goes into P-Net on the largest pyramid levels, whose area
is ``(12 / min_face_size)**2`` times the image's, and into R-Net, which sees
every P-Net candidate: doubling ``min_face_size`` divides the P-Net work by
about four and also cuts the candidates.  ``max_image_size`` caps the long
side P-Net sees (larger images are searched as if downscaled to it, so the
effective minimum face size grows with them) while R-Net and O-Net still crop
from the full-resolution image.  :meth:`MTCNNDetector.detect_batch` runs
R-Net and O-Net once over the candidates of all its images.

Box bookkeeping and NMS are done in NumPy: the arrays are small, and PyTorch's
intra-op threads only add latency there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import cv2
import numpy as np
import torch
from sklearn.base import BaseEstimator

from .._sklearn_compat import Interval, StrOptions
from ..preprocessing import normalize
from ..weights import MTCNNWeights
from .boxes import overlap_matrix, overlap_with, paired_iou, square
from .types import Detections

__all__ = ["DEFAULT_THRESHOLDS", "Detections", "MTCNNDetector", "nms", "batched_nms"]

#: Face-probability thresholds of P-Net, R-Net and O-Net, as in mtcnn 1.0.0.
DEFAULT_THRESHOLDS: tuple[float, float, float] = (0.6, 0.7, 0.8)

# Suppression thresholds, as in mtcnn 1.0.0.
_NMS_PNET_LEVEL = 0.5  # IoU, within one pyramid level
_NMS_PNET_ALL = 0.7    # IoU, across levels
_NMS_RNET = 0.7        # IoU
_NMS_ONET = 0.7        # intersection over the smaller box
_PNET_CELL, _PNET_STRIDE = 12, 2
#: Smallest ``min_face_size`` accepted: P-Net's cell.  Below it the first
#: pyramid level would upsample the frame by ``12 / min_face_size`` (memory
#: growing as its square) to find faces too small to recognise anyway.
SMALLEST_MIN_FACE_SIZE = _PNET_CELL
# Crops per R-Net / O-Net forward pass: larger batches spill the CPU caches
# (measured: R-Net ~110 us/crop up to 256 crops, 160-200 us/crop beyond 512).
_BATCH = {24: 256, 48: 64}
_REMAP_ROWS = 32000       # cv2.remap needs output sides < 32767
_NMS_MATRIX_LIMIT = 2000
#: The networks' input scaling, ``(x - 127.5) / 128``, as their weights declare it.
_TRANSFORMS = MTCNNWeights.MTCNN.transforms
#: Mid-grey, what samples outside the image become (0 after scaling).
_GREY = -float(_TRANSFORMS["offset"]) / float(_TRANSFORMS["scale"])
#: In re-detection, O-Net runs again on its own regressed box until that box
#: overlaps its input box by at least this IoU (it then no longer moves much).
_REFINE_SETTLED_IOU = 0.8


# --------------------------------------------------------------------------- NMS

def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float,
        mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    Parameters
    ----------
    boxes : numpy.ndarray of shape (n, 4)
        ``x1, y1, x2, y2``; areas are ``(x2 - x1) * (y2 - y1)``.
    scores : numpy.ndarray of shape (n,)
        Score of each box; higher-scored boxes are kept first.
    threshold : float
        A box is dropped when it overlaps a kept, higher-scored box by more
        than this.
    mode : {"union", "min"}, default="union"
        Overlap = intersection over union, or over the smaller box's area.

    Returns
    -------
    numpy.ndarray of int64
        Indices of the kept boxes, by decreasing score (ties keep input order).
    """
    if mode not in ("union", "min"):
        raise ValueError(f"mode must be 'union' or 'min', got {mode!r}")
    order = np.argsort(-np.asarray(scores), kind="stable")
    n = order.size
    if n <= 1:
        return order
    b = np.asarray(boxes, dtype=np.float64)[order]
    if n > _NMS_MATRIX_LIMIT:
        return order[_nms_sequential(b, threshold, mode)]
    # suppresses[i, j]: higher-scored box i (i < j) would suppress box j.
    index = np.arange(n)
    suppresses = overlap_matrix(b, mode) > threshold
    suppresses &= np.less.outer(index, index)
    suppresses = suppresses.astype(np.float32)
    # Greedy NMS keeps j iff no *kept* i < j suppresses it.  Iterating this
    # rule from "keep all" settles at least one more box per pass (the
    # dependencies go one way) and in practice converges in a few vectorised
    # passes (a matrix-vector product each) instead of one step per kept box.
    keep = np.ones(n, dtype=np.float32)
    for _ in range(n):
        new_keep = (keep @ suppresses == 0).astype(np.float32)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return order[keep > 0]


def _nms_sequential(b: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Greedy NMS of score-sorted boxes, one kept box at a time (O(n) memory)."""
    alive = np.ones(b.shape[0], dtype=bool)
    kept = []
    i = 0
    while True:
        kept.append(i)
        alive[i] = False
        rest = np.flatnonzero(alive)
        if rest.size == 0:
            break
        alive[rest[overlap_with(b[i], b[rest], mode) > threshold]] = False
        rest = np.flatnonzero(alive)
        if rest.size == 0:
            break
        i = rest[0]
    return np.asarray(kept, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray,
                threshold: float, mode: str = "union") -> np.ndarray:
    """Apply :func:`nms` independently within each group (e.g. image).

    Parameters
    ----------
    boxes : numpy.ndarray of shape (n, 4)
        ``x1, y1, x2, y2``.
    scores : numpy.ndarray of shape (n,)
        Score of each box.
    groups : numpy.ndarray of shape (n,), int
        Group of each box; boxes of different groups never suppress each other.
    threshold : float
        A box is dropped when it overlaps a kept, higher-scored box of its
        group by more than this.
    mode : {"union", "min"}, default="union"
        Overlap = intersection over union, or over the smaller box's area.

    Returns
    -------
    numpy.ndarray of int64
        Indices of the kept boxes, by decreasing score (groups interleaved).
    """
    if boxes.shape[0] == 0:
        return np.zeros((0,), dtype=np.int64)
    if boxes.shape[0] <= _NMS_MATRIX_LIMIT:
        # Move the groups far apart so that boxes of different groups never
        # overlap, and suppress all of them in one go.
        span = float(np.ptp(boxes)) + 1.0
        return nms(boxes + (groups * 2.0 * span)[:, None], scores, threshold, mode)
    kept = np.concatenate([idx[nms(boxes[idx], scores[idx], threshold, mode)]
                           for idx in (np.flatnonzero(groups == g) for g in np.unique(groups))])
    return kept[np.argsort(-scores[kept], kind="stable")]


# ---------------------------------------------------------------- box helpers

def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply (dx1, dy1, dx2, dy2) offsets in units of the (inclusive) box size."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def _pnet_cells(reg: np.ndarray, prob: np.ndarray, threshold: float, row0: int = 0,
                col0: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, scores, offsets)`` of the P-Net positions above ``threshold``.

    ``reg`` is (4, h, w) and ``prob`` (h, w), for one image or one window of
    it whose first position is ``(row0, col0)`` of the whole level's map.
    """
    rows, cols = np.nonzero(prob > threshold)
    scores = prob[rows, cols].astype(np.float64)
    offsets = reg[:, rows, cols].T.astype(np.float64)  # (n, 4)
    return rows + row0, cols + col0, scores, offsets


def _pnet_boxes(reg: np.ndarray, prob: np.ndarray, scale: float,
                threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (image pixels) and scores of the P-Net positions above ``threshold``.

    ``reg`` is (4, h, w) and ``prob`` (h, w), for one image.
    """
    rows, cols, scores, offsets = _pnet_cells(reg, prob, threshold)
    return _cell_boxes(rows, cols, offsets, scale), scores


def _cell_boxes(rows: np.ndarray, cols: np.ndarray, offsets: np.ndarray, scale: float) -> np.ndarray:
    """Image-pixel boxes of P-Net positions, regressed by their offsets."""
    # Position (row, col) sees pixels 2*col .. 2*col + 11; mtcnn writes the
    # corners in the 1-based convention of the original MATLAB code
    # (2*col + 1 .. 2*col + 12), with offsets in units of 11 pixels.
    x = cols * float(_PNET_STRIDE)
    y = rows * float(_PNET_STRIDE)
    corners = np.stack([x + 1, y + 1, x + _PNET_CELL, y + _PNET_CELL], axis=1)
    return (corners + offsets * (_PNET_CELL - 1)) / scale


def _crop(images: Sequence[np.ndarray], boxes: np.ndarray, owner: np.ndarray,
          size: int) -> np.ndarray:
    """Bilinear ``size`` x ``size`` crops of float32 RGB images, normalised.

    Reproduces mtcnn 1.0.0's ``tf.image.crop_and_resize`` call: samples run
    from corner ``(x1, y1)`` to corner ``(x2, y2)`` inclusive, except that
    mtcnn normalises the boxes by ``W`` and ``H`` while ``crop_and_resize``
    maps ``[0, 1]`` to pixels ``[0, W - 1]``, so every coordinate is scaled by
    ``(W - 1) / W`` (resp. ``(H - 1) / H``).  That shifts crops by up to a
    pixel, enough to move borderline scores, so it is kept.  Samples outside
    the image are 0 after normalisation (mid-grey), TensorFlow's
    extrapolation value.  ``cv2.remap`` does the sampling, one call per image
    (and per 32000 output rows): about 20x faster than gathering in PyTorch.

    Returns
    -------
    numpy.ndarray of shape (n, size, size, 3), float32
    """
    out = np.empty((boxes.shape[0], size, size, 3), np.float32)
    t = np.arange(size, dtype=np.float64) / (size - 1)
    per_call = max(1, _REMAP_ROWS // size)
    for index in np.unique(owner):
        image = images[index]
        height, width = image.shape[:2]
        for chunk in np.array_split(np.flatnonzero(owner == index),
                                    -(-int(np.sum(owner == index)) // per_call)):
            b = boxes[chunk]
            xs = (b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * t) * ((width - 1) / width)
            ys = (b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * t) * ((height - 1) / height)
            n = len(chunk)
            map_x = np.broadcast_to(xs[:, None, :], (n, size, size)).reshape(n * size, size)
            map_y = np.broadcast_to(ys[:, :, None], (n, size, size)).reshape(n * size, size)
            patch = cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32),
                              cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(_GREY, _GREY, _GREY))
            patch = patch.reshape(n, size, size, 3)
            # remap blends the border value in within one pixel of the image;
            # TensorFlow does not: any sample outside is exactly mid-grey.
            inside = (((ys >= 0) & (ys <= height - 1))[:, :, None]
                      & ((xs >= 0) & (xs <= width - 1))[:, None, :])
            patch[~inside] = _GREY
            out[chunk] = patch
    return normalize(out, _TRANSFORMS).astype(np.float32, copy=False)


def _as_nchw(patches: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, h, w, 3) array -> (n, 3, h, w) tensor in channels_last memory (no copy on CPU)."""
    return torch.from_numpy(patches).to(device).permute(0, 3, 1, 2)


def _check_image(image: object, name: str) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of shape (H, W, 3) and dtype uint8 "
                        f"(RGB), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3) (RGB), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {image.shape}")


# -------------------------------------------------------------------- detector


class MTCNNDetector(BaseEstimator):
    """MTCNN face detector with five landmarks, pretrained, in PyTorch.

    Parameters
    ----------
    min_face_size : float, default=20
        Smallest face side (pixels) searched for, at least 12 (P-Net's
        cell: a smaller one would upsample whole frames).  The main speed knob: the
        P-Net work scales like ``1 / min_face_size**2``.  20 is mtcnn
        1.0.0's, which this class reproduces; the extractor and
        :func:`~sk_emotion.faces.detectors.make_detector` build it with
        their own (:data:`~sk_emotion.faces.detectors.DEFAULT_MIN_FACE_SIZE`).
    thresholds : tuple of 3 floats, default=(0.6, 0.7, 0.8)
        Face-probability thresholds of P-Net, R-Net and O-Net.  An O-Net
        threshold of 0.9 removes most remaining false positives.
    scale_factor : float, default=0.709
        Ratio between consecutive pyramid levels (about 1/sqrt(2)).
    max_image_size : int or None, default=None
        If set, P-Net searches images whose long side exceeds it as if they
        were downscaled to that long side (R-Net and O-Net still use the full
        image).  Bounds the time per image for large images, at the cost of
        missing faces smaller than ``min_face_size * long_side /
        max_image_size``.
    pyramid : {"fast", "exact"}, default="fast"
        How P-Net's image pyramid is built: ``"exact"`` resizes every level
        from the original in float32, as the TensorFlow ``mtcnn`` does (the
        golden tests compare it); ``"fast"`` resizes each level from the
        previous one in uint8, 4-5x cheaper, with the same detections up to
        rounding (see ``benchmarks/extraction_speed.py``).
    device : str, default="cpu"
        Torch device of the networks.
    weights_paths : mapping of str to path, optional
        Explicit paths of the ``"pnet"``, ``"rnet"``, ``"onet"`` weight files;
        otherwise :class:`sk_emotion.weights.MTCNNWeights` resolves them
        (checksum-verified) on first use.

    Notes
    -----
    The networks are loaded lazily, on the first detection, and are not
    pickled: the detector is cheap to send to worker processes, each of which
    loads its own copy.  Parameters are validated at detection time.

    Examples
    --------
    The astronaut photo that scikit-image ships shows one face:

    >>> from skimage import data
    >>> image = data.astronaut()                # (512, 512, 3) uint8 RGB
    >>> detector = MTCNNDetector(min_face_size=40)
    >>> faces = detector.detect(image)
    >>> len(faces), faces.boxes.shape, faces.landmarks.shape
    (1, (1, 4), (1, 5, 2))
    >>> bool(faces.scores[0] > 0.99)
    True
    >>> x1, y1, x2, y2 = faces.boxes[0]
    >>> nose_x, nose_y = faces.landmarks[0, 2]
    >>> bool(x1 < nose_x < x2 and y1 < nose_y < y2)
    True
    """

    _parameter_constraints: dict = {
        "min_face_size": [Interval(Real, SMALLEST_MIN_FACE_SIZE, None, closed="left")],
        "thresholds": ["array-like"],  # and three probabilities, checked in _check_params
        "scale_factor": [Interval(Real, 0, 1, closed="neither")],
        "max_image_size": [None, Interval(Integral, 12, None, closed="left")],
        "pyramid": [StrOptions({"fast", "exact"})],
        "device": [str, torch.device],
        "weights_paths": [None, Mapping],
    }

    def __init__(
        self,
        min_face_size: float = 20,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        scale_factor: float = 0.709,
        max_image_size: int | None = None,
        pyramid: str = "fast",
        device: str = "cpu",
        weights_paths: Mapping[str, str | os.PathLike] | None = None,
    ) -> None:
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.scale_factor = scale_factor
        self.max_image_size = max_image_size
        self.pyramid = pyramid
        self.device = device
        self.weights_paths = weights_paths

    # ---------------------------------------------------------------- state
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_nets", None)  # reloaded lazily after unpickling
        state.pop("_nets_key", None)
        state.pop("_checked", None)
        return state

    def _get_nets(self):
        """The (P-Net, R-Net, O-Net) triple, loaded on first use (and on a device change)."""
        from ..nets.mtcnn import load_mtcnn

        key = (str(self.device), repr(self.weights_paths))
        if getattr(self, "_nets_key", None) != key:
            self._nets = load_mtcnn(self.weights_paths, device=self.device)
            self._nets_key = key
        return self._nets

    def _check_params(self) -> tuple[float, float, float]:
        # Tracking re-detects once per frame: validate again only when a parameter changed
        # (sklearn's validation inspects the signature, about 0.1 ms a call).
        key = repr([getattr(self, name) for name in _PARAM_NAMES])
        checked = self.__dict__.get("_checked")
        if checked is not None and checked[0] == key:
            return checked[1]
        thresholds = self._validate_all()
        self.__dict__["_checked"] = (key, thresholds)
        return thresholds

    def _validate_all(self) -> tuple[float, float, float]:
        self._validate_params()  # the declarative _parameter_constraints
        try:
            thresholds = tuple(float(t) for t in self.thresholds)
        except (TypeError, ValueError):
            thresholds = ()
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError("thresholds must be 3 probabilities (P-Net, R-Net, O-Net), "
                             f"got {self.thresholds!r}")
        return thresholds  # type: ignore[return-value]

    # ------------------------------------------------------------ public API
    def detect(self, image: np.ndarray) -> Detections:
        """Detect the faces of one RGB image.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image (flip OpenCV's BGR images first: ``image[..., ::-1]``).

        Returns
        -------
        Detections
            The faces found, by decreasing O-Net score: boxes clipped to the
            image, scores, and the five landmarks (not clipped).
        """
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect the faces of several RGB images (e.g. the frames of a clip).

        R-Net and O-Net run once over the candidates of all the images, which
        is faster than calling :meth:`detect` per image; results are the same.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images; sizes may differ.  A (n, H, W, 3) array is accepted.

        Returns
        -------
        list of Detections
            One per image, in order.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        if not isinstance(images, (list, tuple)):
            raise TypeError("images must be a list of (H, W, 3) uint8 RGB arrays, "
                            f"got {type(images).__name__}")
        for i, image in enumerate(images):
            _check_image(image, f"images[{i}]")
        return self._cascade(list(images))

    def _cascade(self, images: list[np.ndarray], regions: list[np.ndarray] | None = None) -> list[Detections]:
        """P-Net, R-Net and O-Net over checked images (P-Net only where ``regions`` say, if given)."""
        thresholds = self._check_params()
        if not images:
            return []
        nets = self._get_nets()
        device = torch.device(self.device)
        # float32 copies feed both the pyramid and the crops (no uint8 rounding).
        floats = [image.astype(np.float32) for image in images]
        with torch.inference_mode():
            boxes, scores, owner = self._propose(nets[0], images, thresholds[0], device, regions=regions)
            boxes, scores, owner = self._refine(nets[1], floats, boxes, owner, thresholds[1],
                                                device)
            boxes, scores, landmarks, owner = self._output(nets[2], floats, boxes, owner,
                                                           thresholds[2], device)
        # Clip the boxes to their image, as mtcnn does; landmarks stay as predicted.
        limits = np.array([image.shape[1::-1] for image in images], dtype=np.float64) - 1
        boxes = np.clip(boxes, 0, np.tile(limits[owner], 2))
        order = np.argsort(-scores, kind="stable")
        return [Detections(boxes[idx].astype(np.float32), scores[idx].astype(np.float32),
                           landmarks[idx].astype(np.float32))
                for idx in (order[owner[order] == i] for i in range(len(images)))]

    def detect_regions(self, image: np.ndarray, regions: np.ndarray) -> Detections:
        """Detect the faces of an image within some regions of it, as a whole search would.

        The pyramid is the whole image's; P-Net runs only on the part of each
        level that sees a region, and R-Net and O-Net crop from the whole
        image, so a face well inside a region is found with exactly the box,
        score and landmarks :meth:`detect` gives it (a candidate near a
        region's edge may be suppressed differently).  Cheaper than
        :meth:`detect` by about the share of the image the regions cover.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image.
        regions : array-like of shape (k, 4)
            Boxes ``x1, y1, x2, y2`` in image pixels; faces whose candidates
            lie in them are searched for.

        Returns
        -------
        Detections
            The faces found, by decreasing O-Net score, in image pixels.
        """
        _check_image(image, "image")
        return self._cascade([image], regions=[np.asarray(regions, dtype=np.float64).reshape(-1, 4)])[0]

    def refine_batch(self, images: Sequence[np.ndarray], boxes: np.ndarray, *,
                     passes: int = 3) -> list[Detections]:
        """Find the face near a known box with O-Net alone: the cascade's last stage.

        Tracking follows a face from frame to frame with this: the face's box
        in a neighbouring frame is the candidate, O-Net scores it, regresses
        the box onto the face and places the landmarks.  As in the cascade,
        R-Net first moves the box towards the face (O-Net was trained on
        R-Net's boxes), and O-Net runs again where it moved the box much.
        About 1.5 ms per face, against 10-30 ms for a full search of a
        720x576 frame.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images.
        boxes : array-like of shape (n_images, 4)
            One candidate box ``x1, y1, x2, y2`` per image.
        passes : int, default=3
            Most O-Net passes, each on the previous pass's regressed box; a
            face whose box moved little in a pass is not passed again.

        Returns
        -------
        list of Detections
            One per image, holding the face if O-Net scores it above its
            threshold (``thresholds[2]``), else empty.
        """
        images = list(images)
        for i, image in enumerate(images):
            _check_image(image, f"images[{i}]")
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) != len(images):
            raise ValueError(f"expected one box per image, got {len(boxes)} boxes for {len(images)} images")
        thresholds = self._check_params()
        if not images:
            return []
        _, rnet, onet = self._get_nets()
        device = torch.device(self.device)
        current = square(boxes)
        todo = np.arange(len(images))
        regressed = current.copy()
        prob = np.zeros(len(images))
        landmarks = np.zeros((len(images), 5, 2))
        with torch.inference_mode():
            # R-Net first, as in the cascade: O-Net was trained on R-Net's boxes.
            reg, _ = _run_in_chunks(rnet, images, current, todo, 24, device)
            current = square(_regress(current, reg))
            for _ in range(max(1, int(passes))):
                reg, p, relative = _run_in_chunks(onet, images, current[todo], todo, 48, device)
                size = (current[todo, 2:] - current[todo, :2] + 1)[:, None, :]
                landmarks[todo] = relative * size + current[todo, None, :2] - 1
                regressed[todo] = _regress(current[todo], reg)
                prob[todo] = p
                moved = square(regressed[todo])
                # Another pass only where O-Net moved the box much: it was not on the face yet.
                settled = paired_iou(moved, current[todo]) >= _REFINE_SETTLED_IOU
                current[todo] = moved
                todo = todo[~settled]
                if todo.size == 0:
                    break
        limits = np.array([image.shape[1::-1] for image in images], dtype=np.float64) - 1
        regressed = np.clip(regressed, 0, np.tile(limits, 2))
        out = []
        for i in range(len(images)):
            if prob[i] > thresholds[2]:
                out.append(Detections(regressed[i:i + 1].astype(np.float32), prob[i:i + 1].astype(np.float32),
                                      landmarks[i:i + 1].astype(np.float32)))
            else:
                out.append(Detections.empty())
        return out

    # ---------------------------------------------------------------- stages
    def _scales(self, height: int, width: int) -> list[float]:
        """Pyramid scales: from 12 / min_face_size while the short side stays >= 12."""
        scale = _PNET_CELL / float(self.min_face_size)
        if self.max_image_size is not None and max(height, width) > self.max_image_size:
            scale *= self.max_image_size / max(height, width)
        scales = []
        while int(min(height, width) * scale) >= _PNET_CELL:
            scales.append(scale)
            scale *= self.scale_factor
        return scales

    def _propose(self, pnet, images, threshold, device, regions=None):
        """P-Net over each image's pyramid: square candidate boxes of all images.

        ``images`` are the uint8 originals.  With ``pyramid="exact"`` every
        level is resized from the original in float32, as mtcnn does; with
        ``"fast"`` each level is resized in uint8 from the previous one (a
        pyramid costs 4-5x less; the levels differ by rounding only).
        ``regions`` (one ``(k, 4)`` array of boxes per image) restricts P-Net
        to the positions of each level that see those boxes: the pyramid is
        the whole image's, so those positions score exactly as in a whole
        search.
        """
        all_boxes, all_scores, all_owner = [], [], []
        for index, image in enumerate(images):
            height, width = image.shape[:2]
            level_boxes, level_scores = [], []
            source = image if self.pyramid == "fast" else image.astype(np.float32)
            for scale in self._scales(height, width):
                # Sizes truncated and area interpolation, as mtcnn (tf.image.resize).
                size = (int(width * scale), int(height * scale))
                resized = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
                if self.pyramid == "fast":
                    source = resized  # the next, smaller level starts from this one
                if regions is None:
                    level = normalize(resized.astype(np.float32), _TRANSFORMS).astype(np.float32, copy=False)
                    reg, prob = pnet(_as_nchw(level[None], device))
                    boxes, scores = _pnet_boxes(reg[0].cpu().numpy(), prob[0].cpu().numpy(),
                                                scale, threshold)
                else:
                    boxes, scores = self._propose_in(pnet, resized, scale, regions[index], threshold, device)
                keep = nms(boxes, scores, _NMS_PNET_LEVEL)
                level_boxes.append(boxes[keep])
                level_scores.append(scores[keep])
            if level_boxes:
                boxes, scores = np.concatenate(level_boxes), np.concatenate(level_scores)
                keep = nms(boxes, scores, _NMS_PNET_ALL)
                all_boxes.append(boxes[keep])
                all_scores.append(scores[keep])
                all_owner.append(np.full(keep.size, index, dtype=np.int64))
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,), dtype=np.int64)
        return (square(np.concatenate(all_boxes)), np.concatenate(all_scores),
                np.concatenate(all_owner))

    @staticmethod
    def _propose_in(pnet, resized, scale, regions, threshold, device):
        """P-Net on the windows of one pyramid level that see ``regions``; positions found twice count once."""
        height, width = resized.shape[:2]
        # P-Net's map size (its pooling rounds up, as TensorFlow's 'same' does): a window
        # cut on this grid scores its positions exactly as the whole level does.
        n_rows, n_cols = (-(-(side - 2) // 2) - 4 for side in (height, width))
        found = []
        for x1, y1, x2, y2 in np.asarray(regions, dtype=np.float64).reshape(-1, 4):
            # Positions whose 12-pixel field overlaps the region, on the whole level's grid.
            c0 = max(0, int(np.floor((x1 * scale - _PNET_CELL) / _PNET_STRIDE)) + 1)
            r0 = max(0, int(np.floor((y1 * scale - _PNET_CELL) / _PNET_STRIDE)) + 1)
            c1 = min(n_cols, int(np.ceil(x2 * scale / _PNET_STRIDE)))
            r1 = min(n_rows, int(np.ceil(y2 * scale / _PNET_STRIDE)))
            if c1 <= c0 or r1 <= r0:
                continue
            window = resized[_PNET_STRIDE * r0:_PNET_STRIDE * (r1 - 1) + _PNET_CELL,
                             _PNET_STRIDE * c0:_PNET_STRIDE * (c1 - 1) + _PNET_CELL]
            level = normalize(window.astype(np.float32), _TRANSFORMS).astype(np.float32, copy=False)
            reg, prob = pnet(_as_nchw(level[None], device))
            found.append(_pnet_cells(reg[0].cpu().numpy(), prob[0].cpu().numpy(), threshold, r0, c0))
        if not found:
            return np.zeros((0, 4)), np.zeros((0,))
        rows, cols, scores, offsets = (np.concatenate(parts) for parts in zip(*found))
        # Overlapping regions see some positions twice; keep them once, in whole-level order
        # (row-major, as np.nonzero gives them), so that ties break as in a whole search.
        _, first = np.unique(rows * n_cols + cols, return_index=True)
        return _cell_boxes(rows[first], cols[first], offsets[first], scale), scores[first]

    def _refine(self, rnet, images, boxes, owner, threshold, device):
        """R-Net on 24x24 crops of the candidates of all images at once."""
        if boxes.shape[0] == 0:
            return boxes, np.zeros((0,)), owner
        reg, prob = _run_in_chunks(rnet, images, boxes, owner, 24, device)
        boxes = _regress(boxes, reg)
        keep = prob > threshold
        boxes, prob, owner = boxes[keep], prob[keep], owner[keep]
        keep = batched_nms(boxes, prob, owner, _NMS_RNET)
        return square(boxes[keep]), prob[keep], owner[keep]

    def _output(self, onet, images, boxes, owner, threshold, device):
        """O-Net on 48x48 crops: final boxes, scores and landmarks."""
        if boxes.shape[0] == 0:
            return boxes, np.zeros((0,)), np.zeros((0, 5, 2)), owner
        reg, prob, relative = _run_in_chunks(onet, images, boxes, owner, 48, device)
        # Landmarks are relative to the crop box's inclusive size, as in mtcnn.
        size = (boxes[:, 2:] - boxes[:, :2] + 1)[:, None, :]
        landmarks = relative * size + boxes[:, None, :2] - 1
        boxes = _regress(boxes, reg)
        keep = prob > threshold
        boxes, prob, landmarks, owner = boxes[keep], prob[keep], landmarks[keep], owner[keep]
        keep = batched_nms(boxes, prob, owner, _NMS_ONET, mode="min")
        return boxes[keep], prob[keep], landmarks[keep], owner[keep]


#: The detector's parameters (what ``_check_params`` watches), read once from its signature:
#: sklearn's ``_get_param_names`` inspects it on every call.
_PARAM_NAMES: tuple[str, ...] = tuple(MTCNNDetector._get_param_names())


def _run_in_chunks(net, images, boxes, owner, size, device) -> tuple[np.ndarray, ...]:
    """Run R-Net/O-Net on ``size`` crops of ``boxes``, in cache-sized batches; float64 outputs."""
    patches = _crop(images, boxes, owner, size)
    batch = _BATCH[size]
    outputs = [[o.cpu().numpy().astype(np.float64)
                for o in net(_as_nchw(patches[start:start + batch], device))]
               for start in range(0, boxes.shape[0], batch)]
    return tuple(np.concatenate(parts) for parts in zip(*outputs))
