import numpy as np
import pytest
from PIL import Image

from multipose.errors import MultiposeError
from multipose.io.media import (
    ImageReadError,
    VideoWriter,
    iter_images,
    iter_video,
    list_images,
    list_inputs,
    read_image,
    write_image,
)


def gradient(h=40, w=60):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 6, (xx + yy) * 2], axis=-1).astype(np.uint8)


def test_reads_every_real_photo_as_rgb(data_dir):
    photos = list_images([data_dir / "photos"])
    assert len(photos) == 10
    sizes = {p.name: read_image(p).shape for p in photos}
    assert all(len(s) == 3 and s[2] == 3 for s in sizes.values())
    assert sizes["zidane.jpg"] == (720, 1280, 3) and sizes["bus.jpg"] == (1080, 810, 3)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".tif"])
def test_lossless_formats_round_trip(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    Image.fromarray(gradient()).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    np.testing.assert_array_equal(read_image(path), gradient())


def test_rgb_channel_order_is_kept(tmp_path):
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    write_image(tmp_path / "red.png", red)
    assert tuple(read_image(tmp_path / "red.png")[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.fromarray(gradient(40, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rotated.jpg")
    assert out.shape == (60, 40, 3)
    expected = np.rot90(gradient(40, 60), k=-1)
    assert np.abs(out.astype(int) - expected).mean() < 3


@pytest.mark.parametrize("tag", [b"\x01\x1b", b"\x01\x20", b"\x01\x52"])
def test_a_damaged_exif_block_keeps_the_pixels(tmp_path, tag, recwarn):
    """The Make tag renumbered as a tag of another type (Pillow's EXIF writer then raises
    TypeError or struct.error): the pixels are read as stored, without a warning."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Maker"  # orientation, make (ASCII)
    good = tmp_path / "good.jpg"
    Image.fromarray(pixels).save(good, exif=exif.tobytes(), quality=95)
    data = good.read_bytes()
    assert data.count(b"\x01\x0f\x00\x02") == 1
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(data.replace(b"\x01\x0f\x00\x02", tag + b"\x00\x02"))
    with Image.open(damaged) as image:
        stored = np.asarray(image.convert("RGB"))
    assert read_image(good).shape == (60, 40, 3)  # turned, as the orientation says
    np.testing.assert_array_equal(read_image(damaged), stored)
    assert not [w for w in recwarn if "EXIF" in str(w.message)]


def test_grayscale_16bit_and_transparent_images(tmp_path):
    gray = np.arange(200, dtype=np.uint8).reshape(10, 20)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = read_image(tmp_path / "gray.png")
    assert out.shape == (10, 20, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    deep = (np.arange(200, dtype=np.uint16).reshape(10, 20) * 300).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out.shape == (10, 20, 3)
    np.testing.assert_allclose(out[..., 1], deep / 257.0, atol=0.51)

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = read_image(tmp_path / "alpha.png")
    assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[3, 3]) == (255, 255, 255)


def test_bad_files_are_named_with_the_reason(tmp_path, data_dir):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("hello, not a picture")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((data_dir / "photos" / "bus.jpg").read_bytes()[:20000])
    cases = [
        (empty, "file is empty"),
        (text, "not an image"),
        (truncated, "truncated or corrupt"),
        (tmp_path / "missing.jpg", "no such file"),
        (tmp_path, "not a file"),
    ]
    for path, reason in cases:
        with pytest.raises(ImageReadError, match=reason) as info:
            read_image(path)
        assert str(path) in str(info.value)


def test_a_batch_goes_on_past_bad_files(tmp_path):
    for name in ("a.png", "c.png"):
        Image.fromarray(gradient()).save(tmp_path / name)
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "readme.txt").write_text("not listed: not an image extension")
    paths = list_images([tmp_path])
    assert [p.name for p in paths] == ["a.png", "b.png", "c.png"]
    results = list(iter_images(paths))
    assert [(p.name, img is not None, err is not None) for p, img, err in results] == [
        ("a.png", True, False),
        ("b.png", False, True),
        ("c.png", True, False),
    ]


def test_list_images_globs_and_errors(tmp_path):
    for name in ("x1.jpg", "x2.jpg", "y.jpg"):
        Image.fromarray(gradient()).save(tmp_path / name)
    assert [p.name for p in list_images([str(tmp_path / "x*.jpg")])] == ["x1.jpg", "x2.jpg"]
    assert [p.name for p in list_images([tmp_path / "y.jpg"])] == ["y.jpg"]
    with pytest.raises(MultiposeError, match="no file matches"):
        list_images([str(tmp_path / "z*.jpg")])
    with pytest.raises(MultiposeError, match="no such file or folder"):
        list_images([tmp_path / "nowhere"])


def test_write_image_rejects_unknown_types(tmp_path):
    with pytest.raises(MultiposeError, match="cannot write '.gifx'"):
        write_image(tmp_path / "a.gifx", gradient())


def test_inputs_split_into_images_and_videos(tmp_path):
    """Folders and patterns give their videos too (a pattern of videos was taken for one
    missing file, and a folder's videos were left out); a bare number is a camera."""
    for name in ("a.jpg", "b.mp4", "c.AVI", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    images, videos = list_inputs([tmp_path])
    assert [p.name for p in images] == ["a.jpg"]
    assert [p.name for p in videos] == ["b.mp4", "c.AVI"]
    images, videos = list_inputs([str(tmp_path / "*.mp4"), "0", tmp_path / "later.mov"])
    assert images == [] and videos == [tmp_path / "b.mp4", 0, tmp_path / "later.mov"]
    images, _ = list_inputs([str(tmp_path / "*")])
    assert [p.name for p in images] == ["a.jpg", "notes.txt"]  # a pattern's files are all tried


def test_an_image_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import multipose.io.files as files

    path = tmp_path / "overlay.png"
    write_image(path, gradient())
    before = path.read_bytes()

    def killed(tmp, target):  # Ctrl-C between writing the new image and the rename
        assert read_image(tmp).shape == (20, 30, 3) and target == path
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_image(path, gradient(20, 30))
    assert path.read_bytes() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.png"]  # no temporary file left


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_over_the_pixel_limit_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    write_image(tmp_path / "small.png", gradient(20, 50))
    write_image(tmp_path / "over.png", gradient(20, 51))
    write_image(tmp_path / "far_over.png", gradient(60, 60))  # Pillow's own error past twice
    assert read_image(tmp_path / "small.png").shape == (20, 50, 3)
    with pytest.raises(
        ImageReadError, match=r"over.png: too large to read \(51x20, over the limit of 1,000 pixels"
    ):
        read_image(tmp_path / "over.png")
    with pytest.raises(
        ImageReadError, match=r"far_over.png: too large to read \(3,600 pixels, over"
    ):
        read_image(tmp_path / "far_over.png")


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "h264"), (".webm", "vp9")])
def test_videos_are_written_in_codecs_browsers_play_at_the_given_rate(tmp_path, suffix, codec):
    import av

    path = tmp_path / f"clip{suffix}"
    writer = VideoWriter(path, fps=12.5)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    for colour in colours:
        writer.write(np.full((47, 63, 3), colour, np.uint8))  # odd sides are padded
        assert not path.exists()  # written aside until closed
    writer.close()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec and stream.average_rate == 12.5
        assert (stream.width, stream.height) == (64, 48)
    frames = [image for _, _, image in iter_video(path)]
    assert len(frames) == 3
    for frame, colour in zip(frames, colours, strict=True):
        assert np.abs(frame[:47, :63].mean((0, 1)) - colour).max() < 12


def test_other_video_types_are_refused(tmp_path):
    with pytest.raises(MultiposeError, match="mp4"):
        VideoWriter(tmp_path / "clip.mov", fps=10)
