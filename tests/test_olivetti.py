"""The Olivetti loader: the MAT-file reader on the real file and on broken ones, augmentation
and the split by person."""
import struct
import zlib

import numpy as np
import pytest
import torch

import pgmdbn
from pgmdbn.data.faces import olivetti_paper_set, paper_transform
from pgmdbn.data.olivetti import augment, load_olivetti, person_split, read_mat, resize


def _available() -> bool:
    try:
        load_olivetti(size=8)
        return True
    except pgmdbn.DataNotFound:
        return False


needs_file = pytest.mark.skipif(not _available(), reason="Olivetti faces not found ($PGMDBN_DATA or "
                                                         "../shared/data/olivetti/olivettifaces.mat)")


def _element(kind: int, payload: bytes) -> bytes:
    """One little-endian MAT data element, padded to 8 bytes."""
    return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _mat(array: np.ndarray, name: str = "faces", compress: bool = True) -> bytes:
    """A level-5 MAT-file with one uint8 matrix (written column-major, as MATLAB does)."""
    body = (_element(6, struct.pack("<II", 9, 0))  # array flags: mxUINT8_CLASS
            + _element(5, struct.pack("<2i", *array.shape))
            + _element(1, name.encode())
            + _element(2, array.astype(np.uint8).tobytes(order="F")))
    matrix = _element(14, body)
    if compress:
        packed = zlib.compress(matrix)
        matrix = struct.pack("<II", 15, len(packed)) + packed
    header = b"MATLAB 5.0 MAT-file, test".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    return header + matrix


@pytest.mark.parametrize("compress", [True, False])
def test_reader_round_trips_a_small_file(tmp_path, compress):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "a.mat"
    path.write_bytes(_mat(a, "x", compress))
    out = read_mat(path)
    assert list(out) == ["x"] and out["x"].dtype == np.uint8
    np.testing.assert_array_equal(out["x"], a)


@pytest.mark.parametrize("damage", ["truncated", "bad_header", "bad_zlib", "short"])
def test_malformed_files_raise_data_error(tmp_path, damage):
    good = _mat(np.ones((4, 5)), compress=True)
    bad = {"truncated": good[:-20], "bad_header": good[:126] + b"XX" + good[128:],
           "bad_zlib": good[:140] + b"\xff" * 16 + good[156:], "short": good[:100]}[damage]
    path = tmp_path / "bad.mat"
    path.write_bytes(bad)
    with pytest.raises(pgmdbn.DataError):
        read_mat(path)


def test_missing_file_and_variable(tmp_path):
    with pytest.raises(pgmdbn.DataNotFound):
        load_olivetti(root=tmp_path)
    (tmp_path / "olivetti").mkdir()
    (tmp_path / "olivetti" / "olivettifaces.mat").write_bytes(_mat(np.ones((4, 5)), name="other"))
    with pytest.raises(pgmdbn.DataError, match="faces"):
        load_olivetti(root=tmp_path)


@needs_file
def test_real_faces_load():
    x, person = load_olivetti()
    assert x.shape == (400, 625) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.8
    assert person.tolist() == [p for p in range(40) for _ in range(10)]
    faces = x.reshape(400, 25, 25)
    assert (faces.std((1, 2)) > 0.05).all()  # no blank image
    # upright, row-major faces: on the mean face the eyes (rows 4-6, left and right of the
    # centre) are darker than the cheeks below them, and the forehead brighter than the chin
    mean = faces.mean(0)
    eyes = torch.cat([mean[4:7, 5:9].flatten(), mean[4:7, 16:20].flatten()]).mean()
    cheeks = torch.cat([mean[9:12, 5:9].flatten(), mean[9:12, 16:20].flatten()]).mean()
    assert eyes < cheeks - 0.1
    assert mean[0:2].mean() > mean[23:25].mean() + 0.1
    big, _ = load_olivetti(size=64)
    torch.testing.assert_close(resize(big, 64, 25), x)


def test_augment_keeps_shapes_and_changes_pixels():
    x = torch.rand(3, 16 * 16)
    out = augment(x, 16, n_copies=4, seed=0, max_angle=10, max_scale=0.1, max_shift=0.05)
    assert out.shape == (12, 256)
    assert 0 <= out.min() and out.max() <= 1
    assert not torch.allclose(out[0], x[0])
    torch.testing.assert_close(augment(x, 16, 4, seed=0), augment(x, 16, 4, seed=0))
    # no transformation at all gives the images back
    same = augment(x, 16, 2, max_angle=0, max_scale=0, max_shift=0)
    torch.testing.assert_close(same, x.repeat_interleave(2, 0), atol=1e-5, rtol=0)
    with pytest.raises(pgmdbn.DataError):
        augment(x, 15)


def test_person_split_is_disjoint():
    ids = torch.arange(40).repeat_interleave(10)
    train, test = person_split(ids, 10, seed=0)
    assert len(train) == 300 and len(test) == 100
    assert not set(ids[train].tolist()) & set(ids[test].tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(400))
    assert not torch.equal(person_split(ids, 10, seed=1)[1], test)


# The face arrays load_olivetti returned while pgmdbn read the file with its own MAT-v5 reader,
# before scipy.io.loadmat replaced it (sha256 of the float32 bytes; the raw 'faces' matrix the
# two readers returned was equal element for element, scipy's as uint8, the old one's as float64).
OLD_READER_FACES = {64: "b7a148a8fcb6887c51344cdf9a97a4eef020e2a584e16a65c2f0d72509600841",
                    25: "827c3b0cd401e29bdebbd71222883cc89033ea9d4ee7ebcf0867cff6c135be91"}


@needs_file
@pytest.mark.parametrize("size", [64, 25])
def test_scipy_reader_gives_the_old_readers_face_arrays(size):
    import hashlib

    x, _ = load_olivetti(size=size)
    assert hashlib.sha256(x.numpy().tobytes()).hexdigest() == OLD_READER_FACES[size]


def test_reader_reads_what_scipy_writes(tmp_path):
    from scipy.io import savemat

    a = np.arange(20, dtype=np.float64).reshape(4, 5)
    savemat(tmp_path / "s.mat", {"faces": a, "label": "text is skipped"})
    out = read_mat(tmp_path / "s.mat")
    assert list(out) == ["faces"]
    np.testing.assert_array_equal(out["faces"], a)


# --- the deep-autoencoder paper's transformed set (pgmdbn.data.faces) ------------------------

def _synthetic(m: int = 6, side: int = 64):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(m, side * side, generator=gen), torch.arange(m) // 2


def test_paper_transform_shapes_ranges_and_determinism():
    faces, person = _synthetic()
    a = paper_transform(faces, person, 37, seed=3)
    assert a.images.shape == (37, 625) and a.images.dtype == torch.float32
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert a.person.dtype == a.source.dtype == torch.int64
    torch.testing.assert_close(a.person, person[a.source])
    assert sorted(torch.bincount(a.source, minlength=6).tolist()) == [6, 6, 6, 6, 6, 7]  # balanced sources
    assert a.angle.abs().max() <= 90 and a.angle.abs().max() > 60
    assert 1.4 <= a.zoom.min() and a.zoom.max() <= 2.0
    again = paper_transform(faces, person, 37, seed=3, chunk=5)  # the chunking changes nothing
    for x, y in zip(a, again):
        torch.testing.assert_close(x, y, atol=0, rtol=0)
    assert not torch.equal(paper_transform(faces, person, 37, seed=4).images, a.images)


def test_paper_transform_without_turn_or_zoom_is_the_downscaled_face():
    faces, person = _synthetic()
    for position in (0.0, 1.0):  # a window the size of the image has nowhere to move
        out = paper_transform(faces, person, 12, seed=1, max_angle=0, scale=(1, 1), position=position)
        torch.testing.assert_close(out.images, resize(faces, 64, 25)[out.source], atol=1e-5, rtol=0)


def test_paper_transform_zooms_into_the_centre_and_turns():
    # a face whose left half is dark: centred windows at zoom 2 show a dark left half; turned by 90°
    # (anticlockwise as displayed) the dark half is at the bottom
    face = torch.ones(64, 64)
    face[:, :32] = 0
    face = face.reshape(1, -1)
    plain = paper_transform(face, torch.tensor([0]), 1, max_angle=0, scale=(2, 2), position=0).images.reshape(25, 25)
    assert plain[:, :10].max() < 0.05 and plain[:, 15:].min() > 0.95
    turned = paper_transform(face, torch.tensor([0]), 200, max_angle=90, scale=(2, 2), position=0)
    i = turned.angle.argmax()
    assert turned.angle[i] > 85
    img = turned.images[i].reshape(25, 25)
    assert img[15:].mean() < 0.1 and img[:10].mean() > 0.9


@pytest.mark.parametrize("kwargs, error", [
    ({"n": 0}, pgmdbn.ArgumentError), ({"n": 2.5}, pgmdbn.ArgumentTypeError), ({"n": "3"}, pgmdbn.ArgumentTypeError),
    ({"size": 0}, pgmdbn.ArgumentError), ({"size": 65}, pgmdbn.ArgumentError),
    ({"max_angle": -1}, pgmdbn.ArgumentError), ({"max_angle": 181}, pgmdbn.ArgumentError),
    ({"max_angle": float("nan")}, pgmdbn.ArgumentError), ({"scale": (2.0, 1.4)}, pgmdbn.ArgumentError),
    ({"scale": (0, 1)}, pgmdbn.ArgumentError), ({"scale": 1.5}, pgmdbn.ArgumentTypeError),
    ({"scale": (1, 2, 3)}, pgmdbn.ArgumentTypeError), ({"position": 1.5}, pgmdbn.ArgumentError),
    ({"seed": -1}, pgmdbn.ArgumentError), ({"seed": 1.0}, pgmdbn.ArgumentTypeError),
    ({"chunk": 0}, pgmdbn.ArgumentError),
    ({"faces": torch.rand(3, 100)}, pgmdbn.DataError),
    ({"faces": torch.full((6, 4096), float("nan"))}, pgmdbn.DataError),
    ({"person": torch.zeros(5)}, pgmdbn.DataError),
])
def test_paper_transform_refuses_hostile_arguments(kwargs, error):
    faces, person = _synthetic()
    args = {"faces": faces, "person": person, "n": 4, **kwargs}
    with pytest.raises(error):
        paper_transform(**args)


@pytest.mark.parametrize("kwargs", [{"n_train": 0}, {"n_test": -1}, {"test_people": 0}, {"test_people": 40},
                                    {"test_people": 30, "valid_people": 10}, {"valid_people": -1},
                                    {"n_valid": 5}, {"valid_people": 5, "n_valid": 0}, {"split_seed": -2},
                                    {"split_seed": 2 ** 63 - 1}, {"scale": (1.4,)}, {"size": 100}])
def test_paper_set_refuses_hostile_arguments(kwargs):
    with pytest.raises((pgmdbn.ArgumentError, pgmdbn.ArgumentTypeError)):
        olivetti_paper_set(**{"n_train": 10, "n_test": 10, **kwargs})


@needs_file
def test_paper_set_splits_people_and_is_seeded():
    made = olivetti_paper_set(300, 120, valid_people=5, n_valid=50, seed=2)
    assert set(made) == {"train", "valid", "test"}
    assert [len(made[k].images) for k in ("train", "valid", "test")] == [300, 50, 120]
    people = {k: set(v.person.tolist()) for k, v in made.items()}
    assert [len(people[k]) for k in ("train", "valid", "test")] == [25, 5, 10]
    for a, b in (("train", "test"), ("train", "valid"), ("valid", "test")):
        assert not people[a] & people[b]
    # the benchmark's mild split: person_split(…, 10, seed=0), then 5 of the rest with seed 1
    _, person = load_olivetti(size=8)
    train, test = person_split(person, 10, seed=0)
    keep, valid = person_split(person[train], 5, seed=1)
    assert people["test"] == set(person[test].tolist()) and people["valid"] == set(person[train[valid]].tolist())
    for split in made.values():  # sources are rows of the 400 faces, of the right people
        torch.testing.assert_close(split.person, person[split.source])
        assert 0 <= split.images.min() and split.images.max() <= 1 and split.images.std() > 0.05
    again = olivetti_paper_set(300, 120, valid_people=5, n_valid=50, seed=2)
    for k in made:
        torch.testing.assert_close(again[k].images, made[k].images, atol=0, rtol=0)
    # the test images depend neither on the training set's size nor on a validation split
    other = olivetti_paper_set(40, 120, seed=2)
    torch.testing.assert_close(other["test"].images, made["test"].images, atol=0, rtol=0)
    assert not torch.equal(olivetti_paper_set(300, 120, seed=3)["test"].images, made["test"].images)


@needs_file
def test_paper_set_without_turn_or_zoom_gives_the_plain_faces():
    made = olivetti_paper_set(50, 20, max_angle=0, scale=(1, 1))
    plain, _ = load_olivetti(size=25)
    for split in made.values():
        torch.testing.assert_close(split.images, plain[split.source], atol=1e-5, rtol=0)
