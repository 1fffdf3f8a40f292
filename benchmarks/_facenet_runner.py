"""Time facenet-pytorch's MTCNN on frames from an .npz (``frames``: uint8 (N, H, W, 3) RGB).

Run by ``benchmarks/extraction_speed.py --facenet-python PATH`` with the python of a separate
virtual environment holding facenet-pytorch 2.6.0 (it pins torch < 2.3; installed there with
``pip install torch==2.14.1 torchvision==0.29.1 && pip install --no-deps facenet-pytorch==2.6.0
pillow requests tqdm numpy``).

Per-frame mode: ``m.detect(frame)`` for each frame, after one warm-up call.
Batched mode: ``m.detect(batch)`` on (``--batch``, H, W, 3) arrays, one per clip of 16 frames.
Writes plain arrays only (no pickle) to --out and prints a one-line JSON summary.
"""
import argparse
import json
import time
from importlib.metadata import version

import numpy as np
import torch
from facenet_pytorch import MTCNN


def flatten(boxes, probs, points):
    """facenet's per-frame object arrays (None where no face) -> flat arrays + frame index."""
    b, p, l, idx = [], [], [], []
    for i, (bi, pi, li) in enumerate(zip(boxes, probs, points)):
        if bi is None:
            continue
        bi = np.asarray(bi, np.float32).reshape(-1, 4)
        b.append(bi)
        p.append(np.asarray(pi, np.float32).reshape(-1))
        l.append(np.asarray(li, np.float32).reshape(-1, 5, 2))
        idx.append(np.full(len(bi), i, np.int32))
    if not b:
        return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                np.zeros((0, 5, 2), np.float32), np.zeros(0, np.int32))
    return np.concatenate(b), np.concatenate(p), np.concatenate(l), np.concatenate(idx)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("frames", help=".npz holding `frames` (uint8 (N, H, W, 3), RGB)")
    ap.add_argument("--out", required=True, help="output .npz")
    ap.add_argument("--min-face-size", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--batch", type=int, default=16, help="frames per batched call (a clip)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    frames = np.load(args.frames)["frames"]
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[3] == 3, frames.shape
    n = len(frames)
    m = MTCNN(keep_all=True, device="cpu", min_face_size=args.min_face_size)

    m.detect(frames[0], landmarks=True)  # warm-up
    boxes, probs, points = [], [], []
    t0 = time.perf_counter()
    for frame in frames:
        b, p, l = m.detect(frame, landmarks=True)
        boxes.append(b), probs.append(p), points.append(l)
    per_frame_s = (time.perf_counter() - t0) / n

    t0 = time.perf_counter()
    bb, bp, bl = [], [], []
    for start in range(0, n, args.batch):  # 4-D array -> one batch
        b, p, l = m.detect(frames[start:start + args.batch], landmarks=True)
        bb += list(b)
        bp += list(p)
        bl += list(l)
    batched_s = (time.perf_counter() - t0) / n

    boxes, probs, points, frame_index = flatten(boxes, probs, points)
    b_boxes, b_probs, b_points, b_index = flatten(bb, bp, bl)
    same = len(b_boxes) == len(boxes) and np.array_equal(b_index, frame_index)
    max_diff = float(np.abs(b_boxes - boxes).max()) if same and len(boxes) else None

    np.savez(
        args.out,
        boxes=boxes, probs=probs, landmarks=points, frame_index=frame_index,
        batched_boxes=b_boxes, batched_probs=b_probs, batched_landmarks=b_points,
        batched_frame_index=b_index,
        per_frame_s=np.float64(per_frame_s), batched_s=np.float64(batched_s),
        n_frames=np.int64(n), min_face_size=np.int64(args.min_face_size),
        threads=np.int64(args.threads),
        torch_version=np.str_(torch.__version__),
        facenet_version=np.str_(version("facenet-pytorch")),
    )
    print(json.dumps({
        "n_frames": n, "shape": list(frames.shape[1:3]), "threads": args.threads,
        "min_face_size": args.min_face_size,
        "per_frame_s_per_frame": round(per_frame_s, 4), "batched_s_per_frame": round(batched_s, 4),
        "faces_per_frame_mode": int(len(boxes)), "faces_batched": int(len(b_boxes)),
        "frames_with_face": int(len(np.unique(frame_index))),
        "batched_same_faces": bool(same), "batched_max_box_diff_px": max_diff,
        "torch": torch.__version__, "out": args.out,
    }))


if __name__ == "__main__":
    main()
