"""Tests of the training data pipeline (training/data): small crops, real shared data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import shared_data_root
from training.data import DataNotFoundError, get_splits, matting_dataset, segmentation_dataset
from training.data.paths import require_dir

ROOT = shared_data_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="shared data not found (../shared/data or ALPHANET_DATA)")

CROP = 64


@pytest.fixture(scope="module")
def train_pools():
    from training.data.sources import make_pools
    return make_pools("train", ROOT, with_people=False)


def _batch(ds):
    return next(iter(ds))


# ------------------------------------------------------------------------------------------------ splits

def test_splits_disjoint_and_match_json():
    splits = get_splits(ROOT)
    raw = json.loads((ROOT / "splits.json").read_text())
    for name in ("alphamatting", "humanseg290", "pennfudan", "backgrounds"):
        assert sorted(splits[name]["val"]) == sorted(raw[name]["val"]), name
    for name, s in splits.items():
        assert not set(s["train"]) & set(s["val"]), name
        assert len(set(s["train"])) == len(s["train"])
    assert len(splits["alphamatting"]["train"]) == 18 and len(splits["alphamatting"]["val"]) == 9
    cut = ROOT / "cutouts"
    if cut.is_dir():
        names = sorted(p.name for p in cut.iterdir() if p.suffix == ".png")
        assert sorted(splits["cutouts"]["val"]) == sorted(Path(n).stem for n in names[::10])
        assert len(splits["cutouts"]["train"]) + len(splits["cutouts"]["val"]) == len(names)
    else:
        assert splits["cutouts"] == {"train": [], "val": []}


def test_pools_never_mix_validation_items():
    from training.data.sources import make_pools
    splits = get_splits(ROOT)
    train = make_pools("train", ROOT)
    assert not set(train.alphamatting) & set(splits["alphamatting"]["val"])
    assert not {s for s, _ in train.backgrounds} & set(splits["backgrounds"]["val"])
    assert not {p.stem for p in train.cutouts} & set(splits["cutouts"]["val"])
    for set_name, stems in train.persons.items():
        assert not set(stems) & set(splits[set_name]["val"])
    assert all(Path(p).stem not in splits[Path(p).parent.name]["val"] for p in train.people)
    val = make_pools("val", ROOT)
    assert {s for s, _ in val.backgrounds} <= set(splits["backgrounds"]["val"])
    assert set(val.alphamatting) == set(splits["alphamatting"]["val"])
    assert val.people == []


# ---------------------------------------------------------------------------------------------- errors

def test_missing_data_root_gives_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_data"
    with pytest.raises(DataNotFoundError, match=str(missing)):
        matting_dataset("train", crop=CROP, batch_size=2, data_root=missing)
    monkeypatch.setenv("ALPHANET_DATA", str(missing))
    with pytest.raises(DataNotFoundError, match="ALPHANET_DATA"):
        segmentation_dataset("val", size=CROP, batch_size=2)


def test_missing_fetched_folder_names_fetch_script(tmp_path):
    with pytest.raises(DataNotFoundError, match="fetch.sh data") as e:
        require_dir(tmp_path, "cutouts")
    assert str(tmp_path / "cutouts") in str(e.value)


def test_pipeline_works_without_fetched_data(tmp_path):
    """Without cutouts/ and backgrounds/debian (fetch.sh not run) the pipeline still works."""
    root = tmp_path / "data"
    root.mkdir()
    for p in ROOT.iterdir():
        if p.name in ("cutouts", "backgrounds"):
            continue
        (root / p.name).symlink_to(p)
    (root / "backgrounds").mkdir()
    for sub in ("kodak", "wikipedia"):
        (root / "backgrounds" / sub).symlink_to(ROOT / "backgrounds" / sub)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = matting_dataset("train", crop=CROP, batch_size=2, data_root=root, people_weight=0.0)
    assert any("fetch.sh data" in str(x.message) for x in w)
    inputs, targets = _batch(ds)
    assert inputs["image"].shape == (2, CROP, CROP, 3) and targets.shape == (2, CROP, CROP, 7)
    splits = get_splits(root)
    assert splits["cutouts"]["train"] == [] and not any(s.startswith("debian/") for s in splits["backgrounds"]["train"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img, mask = _batch(segmentation_dataset("train", size=CROP, batch_size=2, data_root=root))
    assert img.shape == (2, CROP, CROP, 3)


# ---------------------------------------------------------------------------------------------- matting

def test_matting_dataset_shapes_dtypes_ranges():
    ds = matting_dataset("train", crop=CROP, batch_size=2, seed=1, data_root=ROOT)
    spec_in, spec_t = ds.element_spec
    assert spec_in["image"].shape.as_list() == [2, CROP, CROP, 3]
    assert spec_in["trimap"].shape.as_list() == [2, CROP, CROP, 1]
    assert spec_t.shape.as_list() == [2, CROP, CROP, 7]
    for inputs, targets in ds.take(2):
        image, trimap, targets = inputs["image"].numpy(), inputs["trimap"].numpy(), targets.numpy()
        assert image.dtype == trimap.dtype == targets.dtype == np.float32
        assert image.min() >= 0 and image.max() <= 255 and image.max() > 1  # [0, 255], not [0, 1]
        assert set(np.unique(trimap)) <= {0.0, 0.5, 1.0}
        assert targets.min() >= 0 and targets.max() <= 1
        assert np.isfinite(targets).all() and np.isfinite(image).all()


def test_composite_identity_without_degradations(train_pools):
    from training.data.matting import MattingSampler
    sampler = MattingSampler(train_pools, crop=CROP, degrade=False, people_weight=0.0)
    for i in range(40):
        image, trimap, target = sampler(np.random.default_rng(i))
        a, fg, bg = target[..., :1], target[..., 1:4], target[..., 4:7]
        np.testing.assert_allclose(image / 255.0, a * fg + (1 - a) * bg, atol=2e-5)
    # and through tf.data
    inputs, targets = _batch(matting_dataset("train", crop=CROP, batch_size=2, data_root=ROOT, degrade=False))
    t = targets.numpy()
    a, fg, bg = t[..., :1], t[..., 1:4], t[..., 4:7]
    np.testing.assert_allclose(inputs["image"].numpy() / 255.0, a * fg + (1 - a) * bg, atol=2e-5)


def test_degradations_stay_close_to_identity(train_pools):
    from training.data.matting import MattingSampler
    sampler = MattingSampler(train_pools, crop=CROP, degrade=True, people_weight=0.0)
    errs = []
    for i in range(20):
        image, _, target = sampler(np.random.default_rng(i))
        a, fg, bg = target[..., :1], target[..., 1:4], target[..., 4:7]
        errs.append(np.abs(image / 255.0 - (a * fg + (1 - a) * bg)).mean())
    assert max(errs) < 0.05


def test_trimap_unknown_band_covers_soft_alpha(train_pools):
    from training.data.matting import MattingSampler
    sampler = MattingSampler(train_pools, crop=CROP, people_weight=0.0)
    n_soft = 0
    for i in range(40):
        _, trimap, target = sampler(np.random.default_rng(100 + i))
        a, t = target[..., 0], trimap[..., 0]
        assert set(np.unique(t)) <= {0.0, 0.5, 1.0}
        soft = (a > 0) & (a < 1)
        n_soft += soft.sum()
        assert (t[soft] == 0.5).all()
        assert (a[t == 1.0] == 1.0).all() and (a[t == 0.0] == 0.0).all()
    assert n_soft > 0


def _sides_touched(alpha):
    fg = alpha > 0.05
    return int(fg[0].any()) + int(fg[-1].any()) + int(fg[:, 0].any()) + int(fg[:, -1].any())


def test_whole_placement_keeps_objects_inside_the_crop(train_pools):
    """`whole_prob=1` (the trimap-free HAttMatting data) pastes objects whole; edge crops cut through them.
    (Objects whose photo cuts them, e.g. at the bottom edge, still touch that side of the crop.)"""
    from training.data.matting import MattingSampler

    def mean_sides(whole_prob):
        sampler = MattingSampler(train_pools, crop=CROP, people_weight=0.0, mix={"alphamatting": 1.0},
                                 distractor_prob=0.0, whole_prob=whole_prob)
        return np.mean([_sides_touched(sampler(np.random.default_rng(i))[2][..., 0]) for i in range(30)])

    whole, edge = mean_sides(1.0), mean_sides(0.0)
    assert whole <= edge - 0.5, (whole, edge)


def test_trimap_radii():
    from training.data.trimap import make_trimap
    a = np.zeros((41, 41), np.float32)
    a[10:31, 10:31] = 1.0
    a[20, 5] = 0.4
    t = make_trimap(a, 3, 2)
    assert t[20, 20] == 1.0 and t[0, 0] == 0.0 and t[20, 5] == 0.5
    assert t[20, 8] == 0.5 and t[20, 11] == 0.5 and t[20, 13] == 1.0 and t[20, 6] == 0.5
    assert (make_trimap(np.zeros((8, 8), np.float32), 3, 3) == 0).all()
    assert (make_trimap(np.ones((8, 8), np.float32), 3, 3) == 1).all()


def test_trimap_radius_per_pixel():
    """A radius array widens the band only where it is large: left half radius 1, right half radius 6."""
    from training.data.trimap import make_trimap
    a = np.zeros((40, 40), np.float32)
    a[:, 20:] = 1.0  # a vertical edge between columns 19 and 20
    r = np.where(np.arange(40)[:, None] < 20, 1.0, 6.0) * np.ones((1, 40), np.float32)
    t = make_trimap(a, r, r)
    top, bottom = (t[:20] == 0.5).sum(axis=1), (t[20:] == 0.5).sum(axis=1)
    assert (top == 2).all() and (bottom == 12).all(), (top, bottom)  # r on each side of the edge


def test_uneven_trimaps_vary_their_width_along_the_edge():
    """`uneven_prob=1` bands vary along a straight edge (hand-drawn-like); `uneven_prob=0` bands do not."""
    from training.data.trimap import radius_field, random_trimap
    field = radius_field(np.random.default_rng(0), (64, 48), spread=2.5)
    assert field.shape == (64, 48) and field.min() >= 1 / 2.5 - 1e-6 and field.max() <= 2.5 + 1e-6
    a = np.zeros((128, 128), np.float32)
    a[:, 64:] = 1.0

    def width_spread(uneven_prob):
        rows = [(random_trimap(np.random.default_rng(i), a, (0.05, 0.05), uneven_prob) == 0.5).sum(axis=1)
                for i in range(8)]
        return np.mean([w.max() - w.min() for w in rows])

    assert width_spread(0.0) == 0
    assert width_spread(1.0) > 6

def test_val_is_deterministic_and_finite():
    kw = dict(crop=CROP, batch_size=2, seed=3, data_root=ROOT, val_size=4)
    a = [(x["image"].numpy(), x["trimap"].numpy(), y.numpy()) for x, y in matting_dataset("val", **kw)]
    b = [(x["image"].numpy(), x["trimap"].numpy(), y.numpy()) for x, y in matting_dataset("val", **kw)]
    assert sum(x[0].shape[0] for x in a) == 4
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    s1 = [m.numpy() for _, m in segmentation_dataset("val", size=CROP, batch_size=2, val_size=4, data_root=ROOT)]
    s2 = [m.numpy() for _, m in segmentation_dataset("val", size=CROP, batch_size=2, val_size=4, data_root=ROOT)]
    assert len(s1) == 2
    for u, v in zip(s1, s2):
        np.testing.assert_array_equal(u, v)


def test_train_samples_differ_and_seed_reproduces():
    kw = dict(crop=CROP, batch_size=2, data_root=ROOT, people_weight=0.0)
    it = iter(matting_dataset("train", seed=5, **kw))
    b1, b2 = next(it)[1].numpy(), next(it)[1].numpy()
    assert not np.array_equal(b1, b2)
    again = next(iter(matting_dataset("train", seed=5, **kw)))[1].numpy()
    np.testing.assert_array_equal(b1, again)


# ---------------------------------------------------------------------------------------------- segmentation

def test_segmentation_dataset_shapes_dtypes_ranges():
    ds = segmentation_dataset("train", size=CROP, batch_size=2, seed=2, data_root=ROOT)
    assert ds.element_spec[0].shape.as_list() == [2, CROP, CROP, 3]
    assert ds.element_spec[1].shape.as_list() == [2, CROP, CROP, 1]
    for image, mask in ds.take(3):
        image, mask = image.numpy(), mask.numpy()
        assert image.dtype == mask.dtype == np.float32
        assert image.min() >= 0 and image.max() <= 255 and image.max() > 1
        assert set(np.unique(mask)) <= {0.0, 1.0}


def test_segmentation_sources_have_people(train_pools):
    from training.data.segmentation import SegmentationSampler
    sampler = SegmentationSampler(train_pools, size=CROP, mix={"pennfudan": 1.0, "humanseg": 1.0, "composite": 0})
    fractions = [sampler(np.random.default_rng(i))[1].mean() for i in range(12)]
    assert np.mean(fractions) > 0.05  # crops are biased towards people


def test_segmentation_composite_kinds_are_chosen_by_the_mix(train_pools):
    from training.data.segmentation import SegmentationSampler
    sampler = SegmentationSampler(train_pools, size=CROP, mix={"cutout": 1.0, "alphamatting": 1.0})
    asked = []
    real_object = sampler._composites._object
    sampler._composites._object = lambda rng, kind, *a: asked.append(kind) or real_object(rng, kind, *a)
    for i in range(12):
        image, mask = sampler(np.random.default_rng(i))
        assert 0 < mask.mean() < 1  # an object on a background
    assert set(asked) == ({"cutout", "alphamatting"} if train_pools.cutouts else {"alphamatting"})
    with pytest.raises(ValueError, match="unknown segmentation sources \\['cutouts'\\]"):
        SegmentationSampler(train_pools, size=CROP, mix={"cutouts": 1.0})


def test_segmentation_mix_skips_sources_without_data(train_pools):
    """Without `fetch.sh data` there are no cut-outs: their share goes to the other sources, as in matting."""
    import dataclasses

    from training.data.segmentation import SegmentationSampler
    no_cutouts = dataclasses.replace(train_pools, cutouts=[], people=[])
    mix = {"cutout": 1.0, "people": 1.0, "alphamatting": 3.0, "humanseg": 0}
    sampler = SegmentationSampler(no_cutouts, size=CROP, mix=mix)
    assert sampler.names == ["alphamatting"] and sampler.p.tolist() == [1.0]
    assert 0 < sampler(np.random.default_rng(0))[1].mean() < 1
    with pytest.raises(ValueError, match="no segmentation source of the mix \\['cutout'\\] has data"):
        SegmentationSampler(no_cutouts, size=CROP, mix={"cutout": 1.0})


def test_segmentation_pastes_people_on_backgrounds(train_pools, tmp_path):
    """`people`: a pseudo-labelled person is cut out and pasted on a background photo; the mask is its
    alpha > 0.5, and the image shows the person's colours where the mask is."""
    import dataclasses

    from training.data.segmentation import SegmentationSampler
    alpha = np.zeros((120, 80), np.uint8)
    alpha[20:110, 25:55] = 255  # a standing figure, clear of the borders
    fg = np.zeros((120, 80, 3), np.uint8)
    fg[..., 1] = 255  # pure green: no background photo has a large area of it
    label = tmp_path / "person.npz"
    np.savez(label, alpha=alpha, fg=fg, bg=np.zeros_like(fg))
    pools = dataclasses.replace(train_pools, people=[label])
    sampler = SegmentationSampler(pools, size=CROP, mix={"people": 1.0}, degrade=False)
    for i in range(4):
        image, mask = sampler(np.random.default_rng(i))
        person = mask[..., 0] > 0.5
        assert 0.01 < person.mean() < 0.9
        inside = image[person]  # colour-jittered / harmonised green, never the background's colours
        assert np.median(inside[:, 1] - np.maximum(inside[:, 0], inside[:, 2])) > 60


def test_segmentation_whole_view_is_the_squashed_photo(train_pools):
    """`whole_prob=1` shows the whole person photo squashed to a square (AlphaNet's seg_resize view)."""
    import dataclasses

    import cv2

    from training.data.segmentation import SegmentationSampler
    from training.data.sources import load_person_mask
    stem = train_pools.persons["humanseg290"][0]
    pools = dataclasses.replace(train_pools, persons={"humanseg290": [stem]})
    _, full = load_person_mask(pools.root, "humanseg290", stem)
    assert full.shape[0] != full.shape[1]  # a square photo would not tell a crop from the whole
    expected = cv2.resize(full, (CROP, CROP), interpolation=cv2.INTER_NEAREST).astype(np.float32)

    def masks(whole_prob):
        sampler = SegmentationSampler(pools, size=CROP, degrade=False, mix={"humanseg": 1.0},
                                      whole_prob=whole_prob)
        return [sampler(np.random.default_rng(i))[1][..., 0] for i in range(6)]

    for m in masks(1.0):
        assert np.array_equal(m, expected) or np.array_equal(m, expected[:, ::-1])
    assert not any(np.array_equal(m, expected) or np.array_equal(m, expected[:, ::-1]) for m in masks(0.0))


# ---------------------------------------------------------------------------------------------- subject photos

def test_subject_photo_shares_and_choice():
    from training.data.salient_labels import MAX_UNDECIDED, is_subject_photo, shares
    p = np.zeros((10, 10), np.float32)
    p[:4] = 1.0  # 40 % subject
    p[4, :3] = 0.5  # 3 % undecided (and subject: p >= 0.5)
    p[5, :2] = 0.95  # sure enough: subject, not undecided
    assert shares(p) == {"undecided": 0.03, "subject": 0.45}
    assert is_subject_photo(shares(p))
    assert not is_subject_photo({"undecided": MAX_UNDECIDED + 0.01, "subject": 0.3})  # teacher unsure
    assert not is_subject_photo({"undecided": 0.0, "subject": 0.01})  # nothing found
    assert not is_subject_photo({"undecided": 0.0, "subject": 0.9})  # everything is "subject"


def test_isnet_teacher_finds_a_plain_subject():
    """The real IS-Net teacher (fetched by `fetch.sh peers`) on a bright disc on a dark, plain photo."""
    import cv2

    from training.data.pseudo_labels import peer_model, teacher_session
    from training.data.salient_labels import TEACHER_FILE, isnet_probability
    path = peer_model(ROOT, TEACHER_FILE)
    if not path.is_file():
        pytest.skip(f"{path} not fetched")
    image = np.full((240, 320, 3), 40, np.uint8)
    cv2.circle(image, (200, 120), 60, (230, 120, 30), -1)
    disc = np.zeros((240, 320), np.uint8)
    cv2.circle(disc, (200, 120), 60, 1, -1)
    p = isnet_probability(teacher_session(path, 1), image)
    assert p.shape == (240, 320) and p.dtype == np.float32
    iou = ((p >= 0.5) & (disc > 0)).sum() / ((p >= 0.5) | (disc > 0)).sum()
    assert iou > 0.8, iou


def test_salient_labels_without_teacher_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from training.data import salient_labels
    from training.data.paths import run_cli
    monkeypatch.setenv("ALPHANET_CACHE", str(tmp_path / "cache"))  # nothing labelled yet
    missing = tmp_path / "no_teacher.onnx"
    code = run_cli(salient_labels.main, ["--data-root", str(ROOT), "--teacher", str(missing)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: teacher model not found: {missing}; run `../shared/fetch.sh peers` to fetch it"
    assert not (tmp_path / "cache" / "salient_v1" / "index.json").exists()  # nothing half-written


def test_segmentation_salient_photos_and_their_backgrounds(train_pools, tmp_path):
    """`salient`: a labelled photo with its teacher mask (the mask marks the photo's subject pixels), and
    the photo is no longer a background of pasted composites."""
    import dataclasses

    import cv2

    from training.data.segmentation import SegmentationSampler
    photo = np.zeros((90, 150, 3), np.uint8)
    photo[..., 2] = 255  # blue photo ...
    photo[30:80, 40:100] = (0, 255, 0)  # ... with a green subject
    prob = np.zeros((45, 75), np.uint8)  # the teacher's map may be smaller than the photo
    prob[15:40, 20:50] = 240
    cv2.imwrite(str(tmp_path / "photo.png"), photo[..., ::-1])
    cv2.imwrite(str(tmp_path / "prob.png"), prob)
    name = train_pools.backgrounds_without_people()[0][0]
    pools = dataclasses.replace(train_pools, salient=[(name, tmp_path / "photo.png", tmp_path / "prob.png")])
    assert name not in {n for n, _ in pools.backgrounds_without_subjects()}
    assert name in {n for n, _ in train_pools.backgrounds_without_subjects()}
    sampler = SegmentationSampler(pools, size=CROP, degrade=False, mix={"salient": 1.0}, whole_prob=1.0)
    for i in range(3):
        image, mask = sampler(np.random.default_rng(i))
        subject = mask[..., 0] > 0.5
        assert abs(subject.mean() - (50 * 60) / (90 * 150)) < 0.03  # the whole photo, squashed
        green = image[..., 1] - np.maximum(image[..., 0], image[..., 2])
        assert np.mean(green[subject] > 0) > 0.95 and np.mean(green[~subject] < 0) > 0.95
    no_labels = SegmentationSampler(train_pools, size=CROP, mix={"salient": 1.0, "humanseg": 1.0})
    assert no_labels.names == ["humanseg"]  # without teacher masks the source is dropped


def test_segmentation_alphamatting_photos_as_taken(train_pools):
    """`alphamatting_photo`: a training photo in its own scene, mask = ground-truth alpha > 0.5."""
    import dataclasses

    import cv2

    from training.data.sources import imread_gray, imread_rgb
    from training.data.segmentation import SegmentationSampler
    stem = train_pools.alphamatting[0]
    pools = dataclasses.replace(train_pools, alphamatting=[stem])
    alpha = imread_gray(pools.root / "alphamatting" / "alphas" / f"{stem}.png")
    photo = imread_rgb(pools.root / "alphamatting" / "images" / f"{stem}.png")
    expected = cv2.resize((alpha > 127).astype(np.uint8), (CROP, CROP), interpolation=cv2.INTER_NEAREST)
    sampler = SegmentationSampler(pools, size=CROP, degrade=False, mix={"alphamatting_photo": 1.0},
                                  whole_prob=1.0)
    image, mask = sampler(np.random.default_rng(0))
    flipped = not np.array_equal(mask[..., 0], expected)
    assert np.array_equal(mask[..., 0], expected[:, ::-1] if flipped else expected)
    view = cv2.resize(photo, (CROP, CROP), interpolation=cv2.INTER_AREA).astype(np.float32)
    view = view[:, ::-1] if flipped else view
    assert np.corrcoef(image.ravel(), view.ravel())[0, 1] > 0.9  # the photo itself (colour-jittered)


# ---------------------------------------------------------------------------------------------- people labels

def test_pseudo_label_constraint_keeps_gt_outside_band():
    from training.data.pseudo_labels import constrain
    mask = np.zeros((100, 100), np.uint8)
    mask[20:80, 30:70] = 1
    teacher = np.full((100, 100), 0.5, np.float32)
    alpha, r = constrain(teacher, mask, band_rate=0.1, min_band=3)
    assert r == pytest.approx(0.1 * (60 + 40) / 2)
    assert alpha[50, 50] == 1.0 and alpha[5, 5] == 0.0  # far from the edge: GT
    assert alpha[20, 50] == pytest.approx(0.5)  # on the edge: teacher


def test_mask_completion_adds_only_unannotated_people():
    from training.data.mask_completion import complete
    mask = np.zeros((100, 100), np.uint8)
    mask[20:80, 10:30] = 1  # the annotated pedestrian
    teacher = np.zeros((100, 100), np.float32)
    teacher[20:80, 10:33] = 0.9  # the same person, a little wider: the GT edge is kept
    teacher[30:90, 60:80] = 0.8  # an unannotated person: added
    teacher[2:4, 95:97] = 0.9  # a 4-pixel speck (< min_area 0.1 % = 10 px): ignored
    teacher[5:10, 60:80] = 0.4  # below 0.5: not a person
    completed = complete(mask, teacher, margin=4, min_area=0.001)
    expected = mask.copy()
    expected[30:90, 60:80] = 1
    np.testing.assert_array_equal(completed, expected)
    np.testing.assert_array_equal(complete(mask, np.zeros_like(teacher)), mask)


def test_person_masks_use_completed_penn_fudan_masks_when_cached(tmp_path, monkeypatch):
    import cv2

    from training.data import sources
    from training.data.mask_completion import completed_mask_path
    monkeypatch.setenv("ALPHANET_CACHE", str(tmp_path))
    stem = get_splits(ROOT)["pennfudan"]["train"][0]
    _, official = sources.load_person_mask(ROOT, "pennfudan", stem, completed=False)
    extra = official.copy()
    extra[:10, :10] = 1
    completed_mask_path(stem).parent.mkdir(parents=True)
    cv2.imwrite(str(completed_mask_path(stem)), extra * 255)
    monkeypatch.setattr(sources, "_cache", {})  # forget masks loaded by earlier tests
    _, mask = sources.load_person_mask(ROOT, "pennfudan", stem)
    np.testing.assert_array_equal(mask, extra)


@pytest.mark.skipif(not (ROOT.parent / "peers" / "rvm_mobilenetv3_fp32.onnx").is_file() if ROOT else True,
                    reason="RVM teacher not fetched (../shared/fetch.sh peers)")
def test_pseudo_label_one_image():
    from training.data.pseudo_labels import label_one, teacher_session
    from training.data.sources import load_person_mask
    stem = get_splits(ROOT)["humanseg290"]["train"][0]
    image, mask = load_person_mask(ROOT, "humanseg290", stem)
    session = teacher_session(ROOT.parent / "peers" / "rvm_mobilenetv3_fp32.onnx", threads=1)
    a8, fg, bg, teacher, r = label_one(session, image, mask, 0.05, 3.0)
    assert a8.shape == mask.shape and fg.shape == image.shape and bg.shape == image.shape
    assert ((teacher > 0.5) == (mask > 0)).mean() > 0.9
    a = a8[..., None] / 255.0
    assert np.abs(a * fg + (1 - a) * bg - image).mean() < 3.0


# ----------------------------------------------------------------------------------- validation folders

def test_cutout_composite_keeps_the_exact_alpha():
    from training.data.validation_folders import composite_cutout

    rgba = np.zeros((40, 20, 4), np.uint8)
    rgba[..., 0] = 255  # red object
    rgba[10:30, 5:15, 3] = 255  # opaque core, transparent border
    rgba[10:30, 4, 3] = 128  # a half-transparent column
    background = np.full((100, 200, 3), 40, np.uint8)
    image, alpha = composite_cutout(rgba, background, np.random.default_rng(0))
    assert image.shape == (256, 512, 3) and alpha.shape == (256, 512)  # long side 512
    opaque = alpha == 255
    assert opaque.any() and (image[opaque] == [255, 0, 0]).all()
    assert (image[alpha == 0] == 40).all()
    a = alpha[alpha > 0] / 255.0  # composite = alpha x red + (1 - alpha) x grey, channel by channel
    assert np.allclose(image[alpha > 0][:, 0], a * 255 + (1 - a) * 40, atol=1)


def test_validation_folders_hold_only_validation_stems(tmp_path):
    from training.data.validation_folders import write_alphamatting, write_people

    splits = get_splits(ROOT)
    val = splits["alphamatting"]["val"][:2]
    assert write_alphamatting(ROOT, tmp_path / "am", val) == 2
    for sub in ("images", "alphas", "trimaps"):
        assert sorted(p.stem for p in (tmp_path / "am" / sub).iterdir()) == sorted(val)
    stem = splits["pennfudan"]["val"][0]
    write_people(ROOT, tmp_path / "pf", "pennfudan", [stem])
    from PIL import Image
    image = Image.open(next((tmp_path / "pf" / "images").iterdir()))
    mask = np.asarray(Image.open(tmp_path / "pf" / "masks" / f"{stem}.png"))
    assert mask.shape == (image.height, image.width) and set(np.unique(mask)) == {0, 255}


def test_official_trimaps_are_the_photos_own_warped_with_the_crop(train_pools, monkeypatch):
    """With `official_trimap_prob=1` a real scene's trimap is its hand-drawn Trimap1 or Trimap2 (here placed at
    the photo's top-left corner, scale 1), known only where it agrees with the true alpha."""
    import dataclasses

    from training.data import composite as C
    from training.data import matting
    from training.data.sources import load_alphamatting_trimap

    monkeypatch.setattr(C, "place_layer", lambda *args, **kwargs: np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    stem = train_pools.alphamatting[0]
    pools = dataclasses.replace(train_pools, alphamatting=[stem])
    sampler = matting.MattingSampler(pools, crop=CROP, degrade=False, people_weight=0.0, mix={"real": 1.0},
                                     official_trimap_prob=1.0)
    for seed in range(6):
        _, trimap, target = sampler(np.random.default_rng(seed))
        a, t = target[..., 0], trimap[..., 0]
        candidates = []
        for which in ("Trimap1", "Trimap2"):
            drawn = load_alphamatting_trimap(ROOT, stem, which)[:CROP, :CROP] / 255.0
            for view in (drawn, drawn[:, ::-1]):
                agrees = ((view == 1) & (a == 1)) | ((view == 0) & (a == 0))
                candidates.append(np.where(agrees, view, 0.5))
        assert any(np.array_equal(t, c) for c in candidates), seed
        assert ((t == 0.5) | (t == a)).all()


def test_native_scale_places_alphamatting_at_its_pixel_size(train_pools, monkeypatch):
    from training.data import composite as C
    from training.data import matting

    scales, place = [], C.place_layer

    def recording(*args, **kwargs):
        M = place(*args, **kwargs)
        scales.append(float(np.sqrt(abs(np.linalg.det(M[:, :2])))))
        return M

    monkeypatch.setattr(C, "place_layer", recording)
    sampler = matting.MattingSampler(train_pools, crop=CROP, people_weight=0.0, whole_prob=0.0,
                                     distractor_prob=0.0, mix={"alphamatting": 1.0}, native_scale_prob=1.0)
    for seed in range(8):
        sampler(np.random.default_rng(seed))
    assert len(scales) == 8 and all(0.7 - 1e-6 <= s <= 1.4 + 1e-6 for s in scales), scales
    scales.clear()
    sampler.native_scale_prob = 0.0  # the usual wide range: 64 px crops of ~800 px photos are shrunk
    for seed in range(8):
        sampler(np.random.default_rng(seed))
    assert max(scales) < 0.7
