"""Real-photo segmentation sources: CCP, DAVIS by sequence, and fused teacher labels of photos."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from tests.helpers import shared_data_root
from training.data import DataNotFoundError, get_splits
from training.data.photo_labels import MAIN_COMPONENT, PEOPLE_MIN_IOU, fuse, group_of, summary

ROOT = shared_data_root()
needs_data = pytest.mark.skipif(ROOT is None, reason="shared data not found (../shared/data or ALPHANET_DATA)")
CROP = 64


def test_people_rule_keeps_agreeing_teachers_and_averages_them():
    isnet = np.zeros((10, 10), np.float32)
    isnet[2:8, 2:8] = 0.9  # 36 px
    rvm = np.zeros_like(isnet)
    rvm[2:8, 2:7] = 0.7  # 30 px inside it: IoU 30 / 36 = 0.833
    fused, figures = fuse(isnet, rvm)
    assert figures == {"rule": "people", "kept": False, "teacher_iou": round(30 / 36, 4)}
    assert fused is None and 30 / 36 < PEOPLE_MIN_IOU
    rvm[2:8, 7] = 0.6  # now the same 36 px: IoU 1
    fused, figures = fuse(isnet, rvm)
    assert figures["kept"] and figures["teacher_iou"] == 1.0
    assert fused[3, 3] == pytest.approx(0.8) and fused[3, 7] == pytest.approx(0.75) and fused[0, 0] == 0


def test_object_rule_wants_one_confident_subject_of_sensible_size():
    p = np.zeros((20, 20), np.float32)
    p[5:15, 5:15] = 1.0  # 100 px, 25 % of the photo, one component, nothing undecided
    fused, figures = fuse(p, None)
    assert figures == {"rule": "object", "kept": True, "subject": 0.25, "undecided": 0.0, "main_component": 1.0}
    assert fused is p
    two = p.copy()
    two[0:3, 0:20] = 1.0  # a second part of 60 px: the largest holds 100 / 160 < MAIN_COMPONENT
    assert fuse(two, None)[1]["main_component"] == round(100 / 160, 4) < MAIN_COMPONENT
    assert not fuse(two, None)[1]["kept"]
    unsure = p * 0.6  # all subject pixels undecided (0.1 < p < 0.9)
    assert fuse(unsure, None)[1]["undecided"] == 1.0 and not fuse(unsure, None)[1]["kept"]
    everything = np.ones((20, 20), np.float32)  # the "subject" is the whole photo
    assert not fuse(everything, None)[1]["kept"]
    assert not fuse(np.zeros((20, 20), np.float32), None)[1]["kept"]  # nothing found


def test_summary_counts_kept_per_group_and_split():
    index = {"people__a": {"kept": True}, "people__b": {"kept": False}, "imagenet__c": {"kept": True}}
    lines = summary(index, val={"people__b"})
    assert "people    train: kept    1 of    1" in lines and "people    val  : kept    0 of    1" in lines
    assert "imagenet  train: kept    1 of    1" in lines and group_of("imagenet__c") == "imagenet"


@needs_data
def test_davis_is_split_by_whole_sequence_and_ccp_by_json():
    from training.data.splits import davis_sequence
    splits = get_splits(ROOT)
    raw = json.loads((ROOT / "splits.json").read_text())
    if not splits["davis"]["train"]:
        pytest.skip("no davis folder")
    held_out = set(raw["davis"]["val_sequences"])
    assert {davis_sequence(s) for s in splits["davis"]["val"]} == held_out
    assert not {davis_sequence(s) for s in splits["davis"]["train"]} & held_out
    assert sorted(splits["ccp"]["val"]) == sorted(raw["ccp"]["val"])
    assert sorted(splits["photos"]["val"]) == sorted(raw["photos"]["val"])
    assert davis_sequence("horsejump-high_00012") == "horsejump-high"


@needs_data
def test_ccp_and_davis_sources_give_the_photo_and_its_mask():
    from training.data.segmentation import SegmentationSampler
    from training.data.sources import load_mask_photo, make_pools
    pools = make_pools("train", ROOT, with_people=False)
    if not pools.ccp or not pools.davis:
        pytest.skip("no ccp / davis folders")
    assert not set(pools.ccp) & set(get_splits(ROOT)["ccp"]["val"])
    stem = pools.ccp[0]
    photo, mask = load_mask_photo(ROOT, "ccp", stem)
    expected = cv2.resize(mask, (CROP, CROP), interpolation=cv2.INTER_NEAREST)
    one = dataclasses.replace(pools, ccp=[stem])
    sampler = SegmentationSampler(one, size=CROP, degrade=False, mix={"ccp": 1.0}, whole_prob=1.0)
    _, got = sampler(np.random.default_rng(0))
    assert np.array_equal(got[..., 0], expected) or np.array_equal(got[..., 0], expected[:, ::-1])
    sequence = sorted(pools.davis)[0]
    one = dataclasses.replace(pools, davis={sequence: pools.davis[sequence][:1]})
    sampler = SegmentationSampler(one, size=CROP, degrade=False, mix={"davis": 1.0}, whole_prob=1.0)
    _, got = sampler(np.random.default_rng(0))
    _, mask = load_mask_photo(ROOT, "davis", pools.davis[sequence][0])
    expected = cv2.resize(mask, (CROP, CROP), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(got[..., 0], expected) or np.array_equal(got[..., 0], expected[:, ::-1])


@needs_data
def test_labelled_photo_source_thresholds_the_fused_label_at_the_photo_size(tmp_path):
    from training.data.segmentation import SegmentationSampler
    from training.data.sources import make_pools
    pools = make_pools("train", ROOT, with_people=False)
    photo = np.zeros((80, 120, 3), np.uint8)
    photo[20:60, 30:90] = 255
    label = np.zeros((40, 60), np.uint8)  # half size, as the teachers' labels are smaller than the photo
    label[10:30, 15:45] = 250
    cv2.imwrite(str(tmp_path / "p.jpg"), photo)
    cv2.imwrite(str(tmp_path / "p.png"), label)
    one = dataclasses.replace(pools, photos=[("p", tmp_path / "p.jpg", tmp_path / "p.png")])
    sampler = SegmentationSampler(one, size=CROP, degrade=False, mix={"photos": 1.0}, whole_prob=1.0)
    image, mask = sampler(np.random.default_rng(1))
    subject = mask[..., 0] > 0.5
    assert abs(subject.mean() - (40 * 60) / (80 * 120)) < 0.03
    assert image[..., 0][subject].mean() > image[..., 0][~subject].mean() + 100


def test_asked_photo_source_without_its_folder_names_it(tmp_path):
    from training.data.segmentation import SegmentationSampler
    from training.data.sources import Pools
    pools = Pools(root=tmp_path, split="train", alphamatting=[], cutouts=[], backgrounds=[], people=[],
                  persons={"humanseg290": ["1"], "pennfudan": []})
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "ccp" / "masks")):
        SegmentationSampler(pools, size=CROP, mix={"ccp": 1.0, "humanseg": 1.0})


def test_photo_labels_without_photos_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from training.data.photo_labels import main
    from training.data.paths import run_cli
    monkeypatch.setenv("ALPHANET_CACHE", str(tmp_path / "cache"))
    assert run_cli(main, ["--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data folder not found") and str(tmp_path / "photos") in err and "\n" not in err
