"""What the model looked at: spatial attention, temporal weights, per-frame probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..schema import EXPLANATION, column_order, probability_columns

__all__ = ["Explanation", "column_order"]


@dataclass(frozen=True)
class Explanation:
    """Explanation of a batch of clip predictions, as plain NumPy arrays.

    Parameters
    ----------
    classes : numpy.ndarray of shape (n_classes,)
        Class labels, in the column order of every probability array.
    labels : numpy.ndarray of shape (n_videos,)
        Predicted label of each clip.
    probabilities : numpy.ndarray of shape (n_videos, n_classes)
        Video-level class probabilities (what ``predict_proba`` returns).
    frame_probabilities : numpy.ndarray of shape (n_videos, n_frames, n_classes)
        Softmax of each frame's own class scores.
    temporal_weights : numpy.ndarray of shape (n_videos, n_frames)
        Weight of each frame in the video score of the predicted class; sums
        to one over frames.  Uniform for mean pooling and the LSTM, one-hot
        for max pooling.
    class_temporal_weights : numpy.ndarray of shape (n_videos, n_frames, n_classes)
        The temporal weights of every class.
    attention_maps : numpy.ndarray of shape (n_videos, n_frames, n_heads, h, w)
        Spatial attention over the feature map of each frame (uniform for
        average pooling); each head's map sums to one.
    """

    classes: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    frame_probabilities: np.ndarray
    temporal_weights: np.ndarray
    class_temporal_weights: np.ndarray
    attention_maps: np.ndarray

    @classmethod
    def from_outputs(
        cls,
        classes: np.ndarray,
        probabilities: np.ndarray,
        frame_probabilities: np.ndarray,
        class_temporal_weights: np.ndarray,
        attention_maps: np.ndarray,
    ) -> Explanation:
        """Build an explanation from a network's outputs (labels and frame weights derived).

        Parameters
        ----------
        classes : numpy.ndarray of shape (n_classes,)
            Class labels, in the column order of the outputs.
        probabilities : numpy.ndarray of shape (n_videos, n_classes)
            Video-level class probabilities.
        frame_probabilities : numpy.ndarray of shape (n_videos, n_frames, n_classes)
            Softmax of each frame's class scores.
        class_temporal_weights : numpy.ndarray of shape (n_videos, n_frames, n_classes)
            Temporal weights of every class.
        attention_maps : numpy.ndarray of shape (n_videos, n_frames, n_heads, h, w)
            Spatial attention of each frame.

        Returns
        -------
        Explanation
            With ``labels`` the most probable classes and ``temporal_weights``
            the weights of each video's predicted class.
        """
        classes = np.asarray(classes)
        predicted = probabilities.argmax(axis=1)
        frame_weights = np.take_along_axis(class_temporal_weights, predicted[:, None, None], axis=2)[..., 0]
        return cls(
            classes=classes,
            labels=classes[predicted],
            probabilities=probabilities,
            frame_probabilities=frame_probabilities,
            temporal_weights=frame_weights,
            class_temporal_weights=class_temporal_weights,
            attention_maps=attention_maps,
        )

    @property
    def n_videos(self) -> int:
        """Number of clips explained."""
        return int(self.probabilities.shape[0])

    @property
    def n_frames(self) -> int:
        """Number of frames per clip."""
        return int(self.frame_probabilities.shape[1])

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-frame table.

        Returns
        -------
        pandas.DataFrame
            One row per (video, frame) with columns ``video``, ``frame``,
            ``video_label`` (the clip's label), ``frame_label`` (the frame's
            own most probable class), ``temporal_weight`` (the frame's weight
            in the clip's score of its label), ``attention_peak`` (largest
            attention weight of the frame) and one ``p_<class>`` column of
            frame probabilities per class, in :func:`column_order`
            (:data:`sk_emotion.schema.EXPLANATION`).
        """
        n, t = self.n_videos, self.n_frames
        probabilities = self.frame_probabilities.reshape(n * t, -1)
        values = {
            "video": np.repeat(np.arange(n), t),
            "frame": np.tile(np.arange(t), n),
            "video_label": np.repeat(self.labels, t),
            "frame_label": self.classes[probabilities.argmax(axis=1)],
            "temporal_weight": self.temporal_weights.reshape(-1),
            "attention_peak": self.attention_maps.reshape(n * t, -1).max(axis=1),
        }
        values.update({name: probabilities[:, i] for name, i in probability_columns(self.classes).items()})
        return pd.DataFrame(values, columns=EXPLANATION.columns(self.classes))
