"""Limits shared by the estimators and the command line (importing this module imports nothing heavy)."""

__all__ = ["MAX_N_FRAMES", "MAX_WINDOW_S"]

#: Largest ``n_frames`` the extractor and ``--n-frames`` accept.  Memory grows
#: with it (sampled frames are held at full resolution: 1024 frames of 720p
#: take 2.6 GiB), while emotion clips are seconds long: 1024 frames is 40 s of
#: 25 fps video, every frame of it.  Checked with the other parameters, before
#: any video is opened.
MAX_N_FRAMES = 1024

#: Longest timeline window, in seconds.  A window is one clip's worth of
#: video labelled as one; an hour is already far beyond any expression.
MAX_WINDOW_S = 3600.0
