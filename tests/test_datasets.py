"""Dataset loaders on an AFEW-shaped tree of real (tiny) video files generated here."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import PredefinedSplit

from sk_emotion.datasets import afew_predefined_split, load_afew, load_video_folders
from sk_emotion.video import read_frames, write_video


def _clip(path, value):
    frames = np.full((5, 48, 64, 3), value, np.uint8)
    write_video(path, frames, fps=25)


@pytest.fixture(scope="module")
def afew_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("afew")
    layout = {"Train_AFEW": {"Angry": 2, "Happy": 3, "Neutral": 1}, "Val_AFEW": {"Angry": 1, "Happy": 2}}
    value = 10
    for subset, emotions in layout.items():
        for emotion, n in emotions.items():
            folder = root / subset / emotion
            folder.mkdir(parents=True)
            for i in range(n):
                value += 20
                _clip(folder / f"{i:09d}.avi", value)
    (root / "Train_AFEW" / "Happy" / ".DS_Store").write_bytes(b"junk")
    (root / "Train_AFEW" / "Happy" / "notes.txt").write_text("not a video")
    return root


def test_load_afew_reads_every_clip_with_emotion_and_subset(afew_root):
    frame = load_afew(afew_root)
    assert list(frame.columns) == ["path", "emotion", "subset"]
    assert frame["subset"].value_counts().to_dict() == {"train": 6, "val": 3}
    assert frame.groupby(["subset", "emotion"]).size().to_dict() == {
        ("train", "angry"): 2, ("train", "happy"): 3, ("train", "neutral"): 1,
        ("val", "angry"): 1, ("val", "happy"): 2,
    }
    assert frame["path"].str.endswith(".avi").all()
    # The listed files are real, decodable videos.
    assert read_frames(frame["path"][0], n_frames=2).frames.shape == (2, 48, 64, 3)


def test_layout_variants_case_and_mp4(tmp_path):
    for subset, emotion in [("train", "HAPPINESS"), ("Validation", "anger")]:
        folder = tmp_path / subset / emotion
        folder.mkdir(parents=True)
        _clip(folder / "a.mp4", 100)
    frame = load_afew(tmp_path)
    assert frame[["emotion", "subset"]].values.tolist() == [["happy", "train"], ["angry", "val"]]


def test_predefined_split_trains_on_train_and_scores_on_val(afew_root):
    frame = load_afew(afew_root)
    split = afew_predefined_split(frame)
    assert isinstance(split, PredefinedSplit) and split.get_n_splits() == 1
    (train, test), = split.split()
    assert set(frame.loc[train, "subset"]) == {"train"} and len(train) == 6
    assert set(frame.loc[test, "subset"]) == {"val"} and len(test) == 3


def test_bad_layouts_say_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_afew(tmp_path / "nowhere")
    (tmp_path / "Train_AFEW" / "Happy").mkdir(parents=True)
    _clip(tmp_path / "Train_AFEW" / "Happy" / "a.avi", 50)
    with pytest.raises(FileNotFoundError, match=r"no val folder.*Val_AFEW/<Emotion>"):
        load_afew(tmp_path)
    (tmp_path / "Val_AFEW" / "Bored").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"unknown emotion folder '.*Bored'.*'Angry'"):
        load_afew(tmp_path)
    with pytest.raises(ValueError, match="unknown subset value"):
        afew_predefined_split(pd.DataFrame({"subset": ["train", "test"]}))
    with pytest.raises(ValueError, match="both 'train' and 'val'"):
        afew_predefined_split(pd.DataFrame({"subset": ["train"]}))


def test_generic_class_per_folder_loader_with_videos_and_frame_folders(tmp_path):
    _clip_dir = tmp_path / "surprised" / "S005_001"
    _clip_dir.mkdir(parents=True)
    from skimage import io

    for i in range(3):
        io.imsave(_clip_dir / f"{i:08d}.png", np.full((32, 32), 40 * i, np.uint8), check_contrast=False)
    (tmp_path / "calm").mkdir()
    _clip(tmp_path / "calm" / "x.mkv", 90)
    frame = load_video_folders(tmp_path)
    assert frame["label"].tolist() == ["calm", "surprised"]
    assert read_frames(frame["path"][1], n_frames=3).frames.shape[0] == 3
    with pytest.raises(ValueError, match="'.*calm' is not an emotion"):
        load_video_folders(tmp_path, emotions_only=True)
    renamed = load_video_folders(tmp_path, label_map={"calm": "neutral"}, emotions_only=True)
    assert renamed["label"].tolist() == ["neutral", "surprise"]
    with pytest.raises(ValueError, match="no clips found"):
        load_video_folders(tmp_path / "calm")


def test_an_empty_class_folder_is_reported_not_silently_dropped(tmp_path):
    (tmp_path / "happy").mkdir()
    _clip(tmp_path / "happy" / "a.avi", 90)
    (tmp_path / "sad").mkdir()  # the user meant to train on sad too
    with pytest.warns(UserWarning, match=r"'.*sad' holds no clip.*'sad' is left out"):
        frame = load_video_folders(tmp_path)
    assert frame["label"].tolist() == ["happy"]
    afew = tmp_path / "afew"
    for subset, emotion in (("Train_AFEW", "Angry"), ("Train_AFEW", "Happy"), ("Val_AFEW", "Angry")):
        (afew / subset / emotion).mkdir(parents=True)
    _clip(afew / "Train_AFEW" / "Angry" / "a.avi", 40)
    _clip(afew / "Val_AFEW" / "Angry" / "b.avi", 50)
    with pytest.warns(UserWarning, match="Happy' holds no video; 'happy' is left out of train"):
        load_afew(afew)
