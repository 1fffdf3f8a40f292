"""Synthetic expression videos built from real face photos: the package's demo data.

:func:`make_expression_videos` writes an AFEW-shaped tree of real video files
(``Train_AFEW/<Emotion>/*.avi``, ``Val_AFEW/<Emotion>/*.avi``, MPEG-4 in AVI)
whose clips show real faces making the seven basic expressions.  It needs no
download: the faces come from photos that installed packages ship --
insightface's group photo ``t1.jpg`` (six faces) and ``Tom_Hanks_54745.png``,
and scikit-image's ``astronaut`` -- and the backgrounds from texture photos of
scikit-image and scikit-learn.

How a clip is made
------------------
1. **Actors.**  MTCNN finds each face of the source photos once per process
   (five landmarks and a box).  Each face is warped by a similarity transform
   to an upright *actor canvas* (eye distance about 40 px) with a soft elliptical
   mask around head and neck, so that only this face is pasted later.
2. **Expression.**  An expression is a smooth displacement field, a sum of
   Gaussian bumps centred on control points derived from the five landmarks
   (brows above the eyes, eyelids, cheeks, nose wings, lips, mouth corners,
   chin), e.g. *happy* lifts and widens the mouth corners and raises the
   cheeks; *surprise* raises the brows, opens the eyes and drops the jaw.
   Open mouths (surprise, fear) also get a dark mouth cavity, which a warp
   alone cannot create.  The field is scaled by the frame's intensity and
   applied with :func:`cv2.remap`.
3. **Timing.**  The intensity is 0 (the photo's own, neutral-ish face) most of
   the time and rises to its peak over one random contiguous segment covering
   ``peak_fraction`` of the clip, so that a method must find the informative
   frames (what temporal pooling is for).  Neutral clips never move.
4. **Variation.**  Identity (8 faces, each possibly mirrored), face size,
   in-plane rotation, a slight horizontal squeeze (yaw), position with a slow
   drift of position, size and angle plus per-frame jitter, background
   (smooth colour noise, gradients, blurred texture photos, face-free parts of
   the source photos), lighting (gain, gamma, colour cast, a gradient, slow
   flicker), defocus and sensor noise.

Everything random comes from one seed per clip, derived from ``random_state``
and the clip's (subset, emotion, index): the same ``random_state`` gives the
same files, and adding clips does not change the existing ones (content and
name).

Modules
-------
``expressions`` (the expression model), ``sources`` (the faces),
``backgrounds``, ``rendering`` (one clip in memory), ``writer`` (the tree on
disk, its manifest and cache) and ``scripted`` (long videos of several people
whose expressions change at scripted times: :func:`make_scripted_video`, the
ground truth of emotion timelines); ``_canvas`` and ``_checks`` hold what
several of them share.
"""

from .rendering import ExpressionClip, make_expression_clip
from .scripted import PersonScript, make_scripted_video
from .sources import FaceSource, face_sources
from .writer import GENERATOR_VERSION as GENERATOR_VERSION
from .writer import LANDMARKS_NAME as LANDMARKS_NAME
from .writer import MANIFEST_NAME as MANIFEST_NAME
from .writer import default_data_dir, load_expression_landmarks, make_expression_videos

__all__ = [
    "ExpressionClip",
    "FaceSource",
    "PersonScript",
    "default_data_dir",
    "face_sources",
    "load_expression_landmarks",
    "make_expression_clip",
    "make_expression_videos",
    "make_scripted_video",
]
