r"""Convert the upstream Keras weight files to the ``.npz`` files that ship in the package.

Run once by the maintainers (the result is committed under
``sk_emotion/weights/files``) and, at run time, only by the download fallback
of a damaged install.  Reading the upstream formats needs the ``convert``
extra (``pip install "sk-emotion[convert]"``: ``h5py`` for the Keras HDF5
file, ``lz4`` for ``mtcnn``'s joblib files)::

    python -m sk_emotion.weights.convert --out sk_emotion/weights/files \\
        --source mini_xception=/path/to/emotion_model.hdf5 \\
        --source mtcnn_pnet=/path/to/pnet.lz4 ...

Each source is checked against its declared upstream SHA-256 before it is
read (``mtcnn``'s files are pickles: an unverified one is never opened), and
the written file against the shipped SHA-256.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from .arrays import write_arrays

if TYPE_CHECKING:  # pragma: no cover - annotations only; converting needs torch, importing this module does not
    from torch import nn

    from . import WeightsFile

__all__ = ["CONVERTERS", "convert_file", "main"]


def _require(module: str, what: str) -> ModuleType:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"converting {what} needs the '{module}' package: pip install \"sk-emotion[convert]\""
        ) from exc


def _state_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: tensor.detach().cpu().numpy().copy() for name, tensor in module.state_dict().items()}


def _mini_xception(path: Path) -> dict[str, np.ndarray]:
    _require("h5py", "the Keras mini-Xception file")
    from ..nets.mini_xception import MiniXception

    return _state_arrays(MiniXception.from_keras_hdf5(path))


def _mtcnn(net_name: str) -> Callable[[Path], dict[str, np.ndarray]]:
    def convert(path: Path) -> dict[str, np.ndarray]:
        _require("lz4", f"mtcnn's {net_name} file")
        from ..nets import mtcnn as nets

        network = {"pnet": nets.PNet, "rnet": nets.RNet, "onet": nets.ONet}[net_name]
        return _state_arrays(network.from_keras(nets.read_keras_arrays(path)))

    return convert


def _identity(path: Path) -> dict[str, np.ndarray]:
    # sk-emotion's own weights are published in the shipped format: rewriting their arrays
    # reproduces the file byte for byte (write_arrays depends only on the arrays).
    from .arrays import read_arrays

    return read_arrays(path)


#: Converter name (as declared by :class:`sk_emotion.weights.WeightsFile`) -> function.
CONVERTERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "identity": _identity,
    "mini_xception": _mini_xception,
    "mtcnn_pnet": _mtcnn("pnet"),
    "mtcnn_rnet": _mtcnn("rnet"),
    "mtcnn_onet": _mtcnn("onet"),
}


def convert_file(spec: WeightsFile, source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Convert one verified upstream file into the shipped format, and verify the result.

    Parameters
    ----------
    spec : sk_emotion.weights.WeightsFile
        The declaration of the file (upstream checksum, converter, shipped checksum).
    source : path-like
        A copy of the upstream file.
    destination : path-like
        Where to write the ``.npz``.

    Returns
    -------
    pathlib.Path
        ``destination``, whose SHA-256 matches ``spec.sha256``.
    """
    source = spec.upstream.verify(source)  # before reading: mtcnn's files are pickles
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_arrays(destination, CONVERTERS[spec.converter](source))
    try:
        return spec.verify(destination)
    except Exception:
        destination.unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Command line: convert the upstream files given with ``--source CONVERTER=PATH``.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments (``--out FOLDER`` and any number of ``--source
        CONVERTER=PATH``); None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0 (errors in the arguments exit through
        :mod:`argparse`; failed conversions raise).
    """
    from . import EMOTION_WEIGHTS, MTCNNWeights

    parser = argparse.ArgumentParser(prog="python -m sk_emotion.weights.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the .npz files")
    parser.add_argument("--source", action="append", default=[], metavar="CONVERTER=PATH",
                        help=f"an upstream file; converters: {', '.join(CONVERTERS)}")
    args = parser.parse_args(argv)
    specs = {spec.converter: spec for enum in (*EMOTION_WEIGHTS, MTCNNWeights)
             for spec in enum.DEFAULT.files.values() if spec.converter != "identity"}
    for item in args.source:
        name, _, path = item.partition("=")
        if name not in specs or not path:
            parser.error(f"--source must be CONVERTER=PATH with CONVERTER in {sorted(specs)}, got {item!r}")
        spec = specs[name]
        written = convert_file(spec, path, Path(args.out) / spec.filename)
        print(f"{name}: {path} -> {written} (sha256 {spec.sha256})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
