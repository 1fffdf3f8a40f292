"""The actor canvas's geometry, shared by the face sources, the expression model and the renderer.

A face is normalised once to this canvas, so the warps, masks and paste
transforms of the other modules all measure in the same pixels.
"""

from __future__ import annotations

import numpy as np

# Actor canvas: faces are normalised to an upright canvas, their landmarks
# fitted to the ArcFace template scaled to this eye distance, with the eye
# centre at _EYE_CENTRE.
_ED = 40.0
_CANVAS_W, _CANVAS_H = 176, 224
_EYE_CENTRE = np.array([88.0, 92.0])
