"""User images: folders, zips and the awkward files people really have."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from hypermaml.data import ImageError, image_from_bytes, load_image_folder, load_image_zip


def encode(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def stroke(mode="L", ink=0, paper=255, size=(60, 40)):
    """A dark vertical bar on light paper, off centre (left third)."""
    arr = np.full((size[1], size[0]), paper, dtype=np.uint8)
    arr[5:-5, 8:16] = ink
    return Image.fromarray(arr).convert(mode)


def test_an_image_becomes_28px_dark_on_light_and_keeps_its_layout():
    x = image_from_bytes(encode(stroke()), "bar.png")
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) < 0.3 and float(x[0, 0, 0]) > 0.95
    # padded to a square, so the bar stays in the left part of the picture
    assert float(x[0, :, :10].mean()) < float(x[0, :, 18:].mean())


def test_light_ink_on_dark_paper_is_inverted_automatically_or_on_request():
    dark = encode(stroke(ink=255, paper=0))
    assert float(image_from_bytes(dark, "neg.png")[0, 0, 0]) > 0.95
    assert float(image_from_bytes(dark, "neg.png", polarity="keep")[0, 0, 0]) < 0.05
    assert float(image_from_bytes(encode(stroke()), "pos.png", polarity="invert")[0, 0, 0]) < 0.05


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK", "I;16", "LA", "1"])
def test_every_common_pixel_mode_gives_the_same_picture(mode):
    reference = image_from_bytes(encode(stroke()), "ref.png")
    img = stroke().convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(stroke(), dtype=np.uint16) * 257)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode in ("I;16",) else "PNG")
    got = image_from_bytes(encode(img, fmt), f"x.{fmt.lower()}")
    assert torch.allclose(got, reference, atol=0.08), mode


def test_transparent_pixels_become_paper():
    arr = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent black...
    arr[10:30, 18:22] = (0, 0, 0, 255)  # ...with an opaque black bar
    x = image_from_bytes(encode(Image.fromarray(arr, "RGBA")), "alpha.png")
    assert float(x[0, 0, 0]) > 0.95 and float(x.min()) < 0.3


@pytest.mark.parametrize("paper_colour", [(0, 0, 0), (255, 255, 255)])
def test_white_ink_on_a_transparent_background_is_kept(paper_colour):
    """A dark-mode drawing app's export, white strokes on transparency, came out as a blank white square."""
    arr = np.zeros((40, 40, 4), dtype=np.uint8)
    arr[..., :3] = paper_colour  # what the transparent pixels hold does not matter
    arr[10:30, 18:22] = (255, 255, 255, 255)  # an opaque white bar
    x = image_from_bytes(encode(Image.fromarray(arr, "RGBA")), "white-ink.png")[0]
    assert float(x[0, 0]) > 0.95 and float(x[14, 14]) < 0.2  # dark ink where the bar was, paper elsewhere


def test_exif_rotation_is_applied():
    img = stroke(size=(60, 40))  # wide picture, bar on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    rotated = image_from_bytes(encode(img, "JPEG", exif=exif.tobytes()), "photo.jpg")
    plain = image_from_bytes(encode(img, "JPEG"), "photo.jpg")
    # after the rotation the bar runs horizontally: most ink is in a band of rows, not columns
    assert not torch.allclose(rotated, plain, atol=0.1)
    ink = 1 - rotated[0]
    assert float(ink[:10].sum()) > float(ink[:, :10].sum())


def test_a_huge_image_is_downscaled_not_refused():
    big = Image.new("L", (6000, 4000), 255)
    big.paste(0, (2000, 500, 2400, 3500))  # a bar, so that the picture is not blank
    x = image_from_bytes(encode(big, "JPEG"), "big.jpg")
    assert x.shape == (1, 28, 28)


def test_non_images_and_truncated_images_name_the_file():
    with pytest.raises(ImageError, match="notes.png is not an image"):
        image_from_bytes(b"hello, this is text", "notes.png")
    data = encode(stroke(), "PNG")
    with pytest.raises(ImageError, match="cut.png is corrupt or truncated"):
        image_from_bytes(data[: len(data) // 2], "cut.png")


def write_folder(root, classes):
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(encode(stroke()))


def test_a_folder_per_class_reads_in_sorted_class_order(tmp_path):
    write_folder(tmp_path, {"dog": 2, "cat": 3})
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "cat" / "README.txt").write_text("not an image, not an image suffix")
    data = load_image_folder(tmp_path)
    assert data.class_names == ("cat", "dog") and data.y.tolist() == [0, 0, 0, 1, 1]
    assert data.x.shape == (5, 1, 28, 28)


def test_an_empty_class_folder_is_named(tmp_path):
    write_folder(tmp_path, {"cat": 2, "dog": 0})
    with pytest.raises(ImageError, match="class 'dog' .* has 0 image"):
        load_image_folder(tmp_path)


def test_a_missing_folder_is_said_to_be_missing_and_a_file_not_to_be_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageError, match=r"^my_classes does not exist \(from .+\)$"):
        load_image_folder("my_classes/")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImageError, match=r"^notes.txt is not a folder$"):
        load_image_folder("notes.txt")


def test_a_corrupt_image_in_a_folder_names_the_class_and_file(tmp_path):
    write_folder(tmp_path, {"cat": 1})
    (tmp_path / "cat" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageError, match="cat/bad.png"):
        load_image_folder(tmp_path)


def zip_bytes(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_with_a_folder_per_class_inside_a_top_folder(tmp_path):
    png = encode(stroke())
    data = load_image_zip(
        zip_bytes({"task/cat/1.png": png, "task/cat/2.png": png, "task/dog/1.png": png, "__MACOSX/task/._x.png": b"x"})
    )
    assert data.class_names == ("cat", "dog") and data.y.tolist() == [0, 0, 1]
    path = tmp_path / "t.zip"
    path.write_bytes(zip_bytes({"a/1.png": png, "b/1.png": png}))
    assert load_image_zip(path).class_names == ("a", "b")


@pytest.mark.parametrize(
    "bad,message",
    [
        ("../evil/1.png", "outside its folder"),
        ("cat/../../1.png", "outside its folder"),
        ("/abs/1.png", "absolute path"),
    ],
)
def test_a_zip_with_paths_outside_its_folder_is_refused(bad, message):
    with pytest.raises(ImageError, match=message):
        load_image_zip(zip_bytes({"cat/1.png": encode(stroke()), bad: encode(stroke())}))


def test_a_zip_that_expands_past_the_bound_is_refused():
    bomb = zip_bytes({"cat/1.png": b"\0" * 5_000_000})
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="expands to 5,000,000 bytes; the limit is 1,000,000"):
        load_image_zip(bomb, max_total_bytes=1_000_000)


def test_not_a_zip_and_images_at_the_top_level_are_explained():
    with pytest.raises(ImageError, match="not a zip archive"):
        load_image_zip(b"plain text")
    with pytest.raises(ImageError, match="top level"):
        load_image_zip(zip_bytes({"1.png": encode(stroke())}))


def _patched(data: bytes, member: str, **changes) -> bytes:
    """A zip with one member's local and central headers changed: flag_bits (encryption), compress_type."""
    import struct

    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(member).header_offset
    central = next(
        at
        for at in range(len(raw) - 46)
        if raw[at : at + 4] == b"PK\x01\x02"
        and raw[at + 46 : at + 46 + struct.unpack_from("<H", raw, at + 28)[0]] == member.encode()
    )
    for offset_local, offset_central, key in ((6, 8, "flag_bits"), (8, 10, "compress_type")):
        if key in changes:
            struct.pack_into("<H", raw, local + offset_local, changes[key])
            struct.pack_into("<H", raw, central + offset_central, changes[key])
    return bytes(raw)


def test_an_unreadable_zip_member_is_one_message_not_a_traceback():
    """Encrypted, an unknown compression or a damaged member: RuntimeError, NotImplementedError and BadZipFile
    came out of the reader and the page showed a traceback."""
    png = encode(stroke())
    plain = zip_bytes({"cat/1.png": png, "dog/1.png": png})
    with pytest.raises(ImageError, match="password-protected \\(cat/1.png\\); zip the folders again without"):
        load_image_zip(_patched(plain, "cat/1.png", flag_bits=0x1))
    with pytest.raises(ImageError, match="uses a compression this reader cannot open \\(cat/1.png\\)"):
        load_image_zip(_patched(plain, "cat/1.png", compress_type=9))  # Deflate64
    damaged = bytearray(plain)
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        first = z.getinfo("cat/1.png")
    damaged[first.header_offset + 30 + len(first.filename) + first.compress_size // 2] ^= 0xFF  # inside its data
    with pytest.raises(ImageError, match="is damaged \\(cat/1.png"):
        load_image_zip(bytes(damaged))


def test_system_folders_in_a_zip_are_not_classes():
    png = encode(stroke())
    entries = {"t/a/1.png": png, "t/b/1.png": png, "t/.thumbnails/1.png": png, "t/a/.ipynb_checkpoints/x.png": png}
    entries |= {"t/@eaDir/b/1.jpg": encode(stroke(), "JPEG")}
    data = load_image_zip(zip_bytes(entries))
    assert data.class_names == ("a", "b") and data.y.tolist() == [0, 1]


def test_utf8_names_without_the_utf8_flag_are_read_as_utf8():
    """Info-ZIP's zip and macOS write UTF-8 names without flag 0x800; Python reads them as cp437 ('K├ñse')."""
    png = encode(stroke())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # ASCII stand-ins of the same byte length, replaced below
        z.writestr("t/Kxxse/1.png", png)
        z.writestr("t/yyy/1.png", png)
    raw = buf.getvalue().replace(b"Kxxse", "Käse".encode()).replace(b"yyy", "猫".encode())
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert all(not i.flag_bits & 0x800 for i in z.infolist())  # the flag really is absent
        assert "Käse" not in z.namelist()[0]  # and Python alone reads the name as cp437
    assert load_image_zip(raw).class_names == ("Käse", "猫")


def test_a_zip_of_countless_entries_is_refused_before_they_are_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(1_100):
            z.writestr(f"notes/{i}.txt", b"")
    with pytest.raises(ImageError, match="holds 1,100 entries; the limit is 1,020"):
        load_image_zip(buf.getvalue(), max_files=10)


@pytest.mark.parametrize("kind", ["rgba", "16bit"])
def test_a_large_png_is_reduced_before_it_is_converted(tmp_path, kind):
    """A 6000x6000 transparent or 16-bit PNG held about 720 MB while it became grey at full size (RGBA on white
    paper, 16 bits through float64); reduced in its own mode first it needs about a third of that."""
    import subprocess
    import sys

    if kind == "rgba":
        arr = np.zeros((6000, 6000, 4), np.uint8)  # transparent, with a black bar in the middle
        arr[2000:4000, 2700:3300] = (0, 0, 0, 255)
        Image.fromarray(arr, "RGBA").save(tmp_path / "big.png")
    else:
        arr = np.full((6000, 6000), 60000, np.uint16)
        arr[2000:4000, 2700:3300] = 0
        Image.fromarray(arr).save(tmp_path / "big.png")
    script = (
        "import resource, sys\n"
        "from hypermaml.data import image_from_bytes\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = image_from_bytes(data, 'big.png')\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024, float(t[0, 14, 14]), float(t[0, 2, 2]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.png")], capture_output=True, text=True, check=True)
    grew_mb, middle, corner = out.stdout.split()
    assert float(middle) < 0.2 and float(corner) > 0.8  # the bar is ink on white paper
    assert int(grew_mb) < 400, out.stdout


def character(size=200, ink=0.1, paper=0.9):
    """A hand-drawn-looking character (a cross and a ring) on paper, as a float array."""
    yy, xx = np.mgrid[:size, :size] / size
    arr = np.full((size, size), paper)
    ring = np.abs(np.hypot(yy - 0.5, xx - 0.5) - 0.3) < 0.015
    cross = ((np.abs(yy - 0.5) < 0.015) | (np.abs(xx - 0.5) < 0.015)) & (np.hypot(yy - 0.5, xx - 0.5) < 0.4)
    arr[ring | cross] = ink
    return arr


def grey_png(arr) -> bytes:
    return encode(Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)))


@pytest.mark.parametrize("where", ["centre", "off to a corner", "filling most of the photo"])
def test_a_photo_of_paper_on_a_dark_desk_is_the_paper_not_an_inverted_desk(where):
    """Read by its border alone, the photo looked like light ink on dark paper: it was inverted, the character
    came out light on dark and the desk stayed as a frame."""
    rng = np.random.default_rng(0)
    sheet = character(200, ink=0.15, paper=0.8)  # a dim photo: grey paper, not quite black ink
    photo = 0.25 + 0.03 * rng.standard_normal((400, 360))  # a dark wooden desk, noisy
    top, left = {"centre": (100, 80), "off to a corner": (180, 150), "filling most of the photo": (30, 20)}[where]
    if where == "filling most of the photo":
        sheet = np.kron(character(170, ink=0.15, paper=0.8), np.ones((2, 2)))  # 340 px, the desk a thin frame
    photo[top : top + len(sheet), left : left + len(sheet)] = sheet
    got = image_from_bytes(grey_png(photo), "desk.jpg")
    flat = image_from_bytes(grey_png(character(200)), "scan.png")
    assert float(got[0, 0, 0]) > 0.9 and float(got[0, 13:15, 13:15].min()) < 0.4  # paper white, the cross dark
    assert float(torch.corrcoef(torch.stack([got.flatten(), flat.flatten()]))[0, 1]) > 0.8  # the same character


def test_chalk_on_a_blackboard_and_a_character_touching_the_edge_are_not_cropped():
    chalk = 1.0 - character(200, ink=0.1, paper=0.9)  # light strokes on a dark board: still inverted, whole
    assert torch.allclose(
        image_from_bytes(grey_png(chalk), "board.png"), image_from_bytes(grey_png(character(200)), "s.png"), atol=0.02
    )
    bold = np.full((100, 100), 0.95)  # a bold "H" cropped tight: its bars on the left and right edges
    bold[10:90, :20] = bold[10:90, 80:] = bold[45:55, :] = 0.05
    got = image_from_bytes(grey_png(bold), "H.png")
    assert float(got[0, 8, 2]) < 0.1 and float(got[0, 8, 25]) < 0.1  # both bars kept as ink
    assert float(got[0, 8, 14]) > 0.9 and float(got[0, 14, 14]) < 0.1  # paper between them, the crossbar ink
    assert float(got[0, 1, 2]) > 0.9  # and the paper above them


@pytest.mark.parametrize("paper", [255, 0, 128])
def test_a_blank_picture_is_refused_with_a_reason(paper):
    """A blank page (or strokes too thin to survive the shrinking to 28 px) became a blank training image."""
    with pytest.raises(ImageError, match="blank.png looks blank"):
        image_from_bytes(encode(Image.new("L", (300, 300), paper)), "blank.png")
    faint = np.full((1000, 1000), 0.9)
    faint[200:800, 500] = 0.5  # a one-pixel pencil line, 1/36 of a pixel once at 28 px
    with pytest.raises(ImageError, match="faint.png looks blank at the models' 28×28"):
        image_from_bytes(grey_png(faint), "faint.png")
    faint[200:800, 490:520] = 0.5  # the same line drawn thick is a character
    assert image_from_bytes(grey_png(faint), "thick.png").shape == (1, 28, 28)


def test_a_lab_tiff_from_a_photo_editor_is_read_and_a_mode_pil_cannot_convert_is_named(monkeypatch):
    lab = stroke().convert("RGB").convert("LAB")
    reference = image_from_bytes(encode(stroke()), "ref.png")
    assert torch.allclose(image_from_bytes(encode(lab, "TIFF"), "lab.tif"), reference, atol=0.08)
    assert image_from_bytes(encode(lab, "TIFF"), "lab.tif", channels=3).shape == (3, 28, 28)
    from hypermaml.data import folders

    def unsupported(im):
        raise ValueError(f"conversion from {im.mode} to L not supported")

    monkeypatch.setattr(folders, "_to_grey", unsupported)  # a mode a future file brings that PIL cannot convert
    with pytest.raises(ImageError, match=r"odd.tif is stored in a colour mode \(LAB\) that cannot be turned into grey"):
        image_from_bytes(encode(lab, "TIFF"), "odd.tif")

    def corrupt(im):
        raise ValueError("invalid extents")  # PIL meeting damaged pixel data while it converts

    monkeypatch.setattr(folders, "_to_grey", corrupt)
    with pytest.raises(ImageError, match="bad.tif is corrupt or truncated"):
        image_from_bytes(encode(lab, "TIFF"), "bad.tif")


@pytest.mark.parametrize("name", ["emnist-test", "omniglot-train"])
def test_real_characters_light_on_dark_are_inverted_whole_never_taken_for_a_sheet(split, name):
    """Bold letters light on dark (EMNIST's own look) have the outline of a sheet with dark marks on it; the
    sheet-on-a-desk crop must leave every one of them whole: each decodes as its dark-on-light original does."""
    data = split(name)
    rng = np.random.default_rng(7)
    for i in rng.choice(len(data.x), 300, replace=False):
        arr = (data.x[i, 0].numpy() * 255).astype(np.uint8)
        upright = Image.fromarray(arr).resize((112, 112))
        inverted = Image.fromarray(255 - np.asarray(upright))
        assert torch.allclose(
            image_from_bytes(encode(inverted), "neg.png"), image_from_bytes(encode(upright), "pos.png"), atol=0.02
        ), i


def bold_box_letter(kind: str, stroke: int, side: int = 300) -> np.ndarray:
    """A bold "口", "日", "目", "田" or "回", light on dark: light blocks with dark holes, the outline of a sheet."""
    arr = np.full((side, side), 0.08)
    lo, hi = 40, side - 40
    arr[lo:hi, lo:hi] = 0.92
    inner = arr[lo + stroke : hi - stroke, lo + stroke : hi - stroke]
    inner[:] = 0.08
    n = len(inner)
    bars = {"口": [], "日": [n // 2], "目": [n // 3, 2 * n // 3], "田": [n // 2], "回": []}[kind]
    for b in bars:
        inner[max(0, b - stroke // 2) : b + stroke // 2] = 0.92
    if kind == "田":
        inner[:, n // 2 - stroke // 2 : n // 2 + stroke // 2] = 0.92
    if kind == "回":
        c = n // 2
        inner[c - 40 : c + 40, c - 40 : c + 40] = 0.92
        inner[c - 40 + stroke // 2 : c + 40 - stroke // 2, c - 40 + stroke // 2 : c + 40 - stroke // 2] = 0.08
    return arr


@pytest.mark.parametrize("kind", ["口", "日", "目", "田", "回"])
@pytest.mark.parametrize("stroke", [20, 35, 50])
def test_bold_closed_letters_light_on_dark_are_not_taken_for_a_sheet(kind, stroke):
    """Their holes never reach the picture's edge, like ink on a sheet: a bold light "目" came out as two bars."""
    light = bold_box_letter(kind, stroke)
    assert torch.allclose(
        image_from_bytes(grey_png(light), "neg.png"), image_from_bytes(grey_png(1 - light), "pos.png"), atol=0.02
    )
