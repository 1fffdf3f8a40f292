"""Box geometry shared by the detectors and the tracker: overlaps and squares.

Boxes are ``(x1, y1, x2, y2)`` in pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_iou", "overlap_with", "overlap_matrix", "paired_iou", "square"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a : array-like of shape (N, 4)
        Boxes ``x1, y1, x2, y2``; a single box of shape (4,) is accepted.
    b : array-like of shape (M, 4)
        Boxes ``x1, y1, x2, y2``; a single box of shape (4,) is accepted.

    Returns
    -------
    numpy.ndarray of shape (N, M), float64
        ``[i, j]`` is the IoU of ``a[i]`` and ``b[j]``, in [0, 1].
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def overlap_with(box: np.ndarray, boxes: np.ndarray, mode: str) -> np.ndarray:
    """Overlap of one box with each of several boxes.

    Parameters
    ----------
    box : numpy.ndarray of shape (4,)
        ``x1, y1, x2, y2``.
    boxes : numpy.ndarray of shape (m, 4)
        ``x1, y1, x2, y2`` each.
    mode : {"union", "min"}
        ``"union"``: intersection over union; any other value: intersection
        over the smaller box's area.

    Returns
    -------
    numpy.ndarray of shape (m,)
        The overlap of ``box`` with each of ``boxes``.
    """
    area_a = (box[2] - box[0]) * (box[3] - box[1])
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    denom = area_a + area_b - inter if mode == "union" else np.minimum(area_a, area_b)
    return inter / np.maximum(denom, 1e-12)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of ``a[i]`` with ``b[i]``, pair by pair.

    Parameters
    ----------
    a : numpy.ndarray of shape (n, 4)
        Boxes ``x1, y1, x2, y2``.
    b : numpy.ndarray of shape (n, 4)
        Boxes ``x1, y1, x2, y2``, as many as ``a``.

    Returns
    -------
    numpy.ndarray of shape (n,)
        The IoU of each pair, in [0, 1].
    """
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def overlap_matrix(boxes: np.ndarray, mode: str) -> np.ndarray:
    """Overlap of every box with every other, built with few n x n temporaries (NMS's hot spot).

    Parameters
    ----------
    boxes : numpy.ndarray of shape (n, 4), float
        ``x1, y1, x2, y2`` each.
    mode : {"union", "min"}
        ``"union"``: intersection over union; any other value: intersection
        over the smaller box's area.

    Returns
    -------
    numpy.ndarray of shape (n, n)
        Symmetric matrix of overlaps (the diagonal is 1 for non-empty boxes).
    """
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    inter = np.minimum.outer(x2, x2)
    inter -= np.maximum.outer(x1, x1)
    np.clip(inter, 0, None, out=inter)
    h = np.minimum.outer(y2, y2)
    h -= np.maximum.outer(y1, y1)
    np.clip(h, 0, None, out=h)
    inter *= h
    if mode == "union":
        denom = np.add.outer(area, area)
        denom -= inter
    else:
        denom = np.minimum.outer(area, area)
    np.maximum(denom, 1e-12, out=denom)
    inter /= denom
    return inter


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow boxes to squares around the same centre (side = the larger side).

    Parameters
    ----------
    boxes : numpy.ndarray of shape (n, 4)
        ``x1, y1, x2, y2`` each.

    Returns
    -------
    numpy.ndarray of shape (n, 4)
        The square boxes, ``x1, y1, x2, y2``.
    """
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + 0.5 * (w - side)
    y1 = boxes[:, 1] + 0.5 * (h - side)
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)
