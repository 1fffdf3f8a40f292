"""A user function as a face detector, identified by its code and captured values."""

from __future__ import annotations

import hashlib
import inspect
import pickle
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from .types import Detections, as_detections, check_rgb

__all__ = ["CallableDetector"]


def _hash_code(code, digest) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if hasattr(const, "co_code"):  # nested function or comprehension
            _hash_code(const, digest)
        else:
            digest.update(repr(const).encode())


def _hash_value(value, digest) -> None:
    try:
        digest.update(pickle.dumps(value, protocol=4))
    except Exception:
        digest.update(repr(value).encode())


def _callable_identity(func: Callable) -> str:
    """A string that changes when a user callable's code or captured values change.

    Functions are identified by their qualified name, bytecode, constants,
    defaults and the values their closure captures; other callables by
    their pickled state.  Global state a function reads is not seen.
    """
    target = getattr(func, "__func__", func)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"
    digest = hashlib.sha256()
    code = getattr(target, "__code__", None)
    if code is not None:
        _hash_code(code, digest)
        for cell in getattr(target, "__closure__", None) or ():
            try:
                _hash_value(cell.cell_contents, digest)
            except ValueError:  # empty cell
                pass
        _hash_value(getattr(target, "__defaults__", None), digest)
        _hash_value(getattr(target, "__kwdefaults__", None), digest)
        if target is not func:  # bound method: the instance matters too
            _hash_value(getattr(func, "__self__", None), digest)
    else:
        _hash_value(func, digest)
        try:
            digest.update(inspect.getsource(type(func)).encode())
        except (OSError, TypeError):
            pass
    return f"callable:{name}:{digest.hexdigest()[:16]}"


class CallableDetector(BaseEstimator):
    """Wrap a user function ``f(rgb_image) -> (boxes, landmarks)`` as a detector.

    Parameters
    ----------
    func : callable
        Takes one (H, W, 3) uint8 RGB image.  Returns ``(boxes, landmarks)``:
        ``boxes`` of shape (N, 4) ``x1, y1, x2, y2`` or (N, 5) with a score
        column, and ``landmarks`` of shape (N, 5, 2) (left eye, right eye,
        nose, left and right mouth corner, "left" = smaller x) or None when
        the function gives no landmarks (faces are then cropped from their
        boxes instead of aligned).  A :class:`Detections` is accepted too.
        With ``n_jobs > 1`` it reaches the worker processes through
        joblib's cloudpickle, so lambdas and closures work.
    """

    def __init__(self, func: Callable) -> None:
        self.func = func

    @property
    def identity(self) -> str:
        """A string that changes when the function's code or captured values change (for caches).

        Functions are identified by their qualified name, bytecode,
        constants, defaults and closure values; other callables by their
        pickled state.  Global state the function reads is not seen.
        """
        return _callable_identity(self.func)

    def detect(self, image: np.ndarray) -> Detections:
        """Run the function on one image and validate its output.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image.

        Returns
        -------
        Detections
            The function's faces, sorted by decreasing score; faces with a
            non-finite or empty box are dropped.

        Raises
        ------
        ValueError
            If ``image`` is not an (H, W, 3) uint8 array, or the function
            returns something other than ``(boxes, landmarks)`` or a
            :class:`Detections`, or arrays of the wrong shapes.
        """
        image = check_rgb(image, "image")
        out = self.func(image)
        name = getattr(self.func, "__qualname__", repr(self.func))
        if isinstance(out, Detections):
            return as_detections(out.boxes, out.landmarks, out.scores, where=f"detector {name}")
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(f"detector {name} must return (boxes, landmarks), got {type(out).__name__}")
        return as_detections(out[0], out[1], where=f"detector {name}")

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect the faces of several images.

        When the function has a ``detect_batch`` attribute of its own, that
        is called once on the list of images; otherwise :meth:`detect` runs
        on each image.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images.

        Returns
        -------
        list of Detections
            One per image, in order.
        """
        batch = getattr(self.func, "detect_batch", None)
        if callable(batch):
            return [as_detections(d.boxes, d.landmarks, d.scores, where="detect_batch")
                    for d in batch(list(images))]
        return [self.detect(image) for image in images]
