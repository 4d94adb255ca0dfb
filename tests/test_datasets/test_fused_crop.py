"""DecodeRandomResizedCrop: the crops of mmpretrain's RandomResizedCrop,
the pixels of a full decode, and the file named when it cannot be read."""
import math
import struct

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from PIL import Image
from scipy.stats import ks_2samp
from skimage import data

from mae_plugin.datasets import (DecodeRandomResizedCrop,
                                 DeferredRandomResizedCrop,
                                 RobustLoadImageFromFile, UnreadableImageError)
from mae_plugin.datasets.transforms import fused_crop
from mae_plugin.datasets.transforms.fused_crop import (
    random_resized_crop_params, read_jpeg_header, reduced_box,
    reduced_decode_factor, resize_box)
from mae_plugin.registry import TRANSFORMS
from .test_loading import XMP_ORIENTATION_6
from .test_loading import bad_files  # noqa: F401 (fixture)


def photo(name: str, size=None) -> np.ndarray:
    """A skimage photo, BGR ``[H, W, 3]``, optionally resized to
    ``size = (w, h)``."""
    bgr = np.ascontiguousarray(getattr(data, name)()[..., ::-1])
    if size is not None:
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return bgr


def write_jpeg(path, bgr, quality=90):
    path.write_bytes(
        cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1])
    return str(path)


def write_mpo(path, bgr, quality=90):
    """Store ``bgr`` as Pillow's two-picture MPO (a multi-picture JPEG, as
    cameras write): ``bgr``, then ``bgr`` upside down."""
    first = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))
    first.save(path, 'MPO', quality=quality, save_all=True,
               append_images=[first.transpose(Image.Transpose.FLIP_TOP_BOTTOM)])
    return str(path)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return 10 * math.log10(255**2 / mse)


def mmpretrain_crop(**kwargs):
    return MMPRETRAIN_TRANSFORMS.build(
        dict(type='RandomResizedCrop', **kwargs))


def force_crop(transform, offset_h, offset_w, crop_h, crop_w):
    """Make ``transform`` take this crop instead of a random one."""
    transform.crop_params = lambda height, width: (offset_h, offset_w,
                                                   crop_h, crop_w)
    return transform


@pytest.fixture
def decodes(monkeypatch):
    """The decodes made, in order: ``('imdecode', flag)`` for OpenCV's,
    ``('decode_image', None)`` for the transform's full-decode fallback
    (after an OpenCV image it rejected, or for a file that is no plain
    JPEG)."""
    made = []
    imdecode, decode_image = cv2.imdecode, fused_crop.decode_image

    def recorded_imdecode(buf, flags):
        made.append(('imdecode', flags))
        return imdecode(buf, flags)

    def recorded_decode_image(*args):
        made.append(('decode_image', None))
        return decode_image(*args)

    monkeypatch.setattr(cv2, 'imdecode', recorded_imdecode)
    monkeypatch.setattr(fused_crop, 'decode_image', recorded_decode_image)
    return made


# (a) the crop distribution ------------------------------------------------


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(crop_ratio_range=(0.2, 1.0)),
    dict(aspect_ratio_range=(0.5, 3.0), max_attempts=3),
    dict(max_attempts=0),
])
@pytest.mark.parametrize('size', [(375, 500), (500, 333), (7, 200),
                                  (300, 11)])
def test_seeded_crops_are_mmpretrains(kwargs, size):
    """The same draws from NumPy's global generator: the same crop, also
    for the central fallback (thin images, no attempts)."""
    reference = mmpretrain_crop(scale=224, **kwargs)
    img = np.zeros(size, np.uint8)
    for seed in range(50):
        np.random.seed(seed)
        ours = random_resized_crop_params(*size, **kwargs)
        np.random.seed(seed)
        assert ours == reference.rand_crop_params(img)


@pytest.mark.parametrize('size, ratios, crop', [
    ((50, 1), (3., 4.), (24, 0, 1, 1)),  # mmpretrain: 0 rows
    ((1, 50), (0.01, 0.1), (0, 24, 1, 1)),  # mmpretrain: 0 columns
])
def test_central_fallback_keeps_a_pixel(size, ratios, crop, tmp_path):
    """An image less than a pixel wide (high) at the clamped aspect ratio:
    the central crop keeps one pixel where mmpretrain's would be empty,
    and the transform resamples it."""
    assert random_resized_crop_params(*size, aspect_ratio_range=ratios,
                                      max_attempts=0) == crop
    path = str(tmp_path / 'thin.png')
    cv2.imwrite(path, np.full(size + (3, ), 77, np.uint8))
    img = DecodeRandomResizedCrop(
        8, aspect_ratio_range=ratios, max_attempts=0)(dict(img_path=path))
    assert img['img'].shape == (8, 8, 3) and (img['img'] == 77).all()


def crop_statistics(params, height, width) -> dict:
    """Relative area, log aspect ratio and relative centre of crops given
    as ``(offset_h, offset_w, crop_h, crop_w)`` rows."""
    offset_h, offset_w, crop_h, crop_w = np.asarray(params, float).T
    return dict(
        area=crop_h * crop_w / (height * width),
        log_aspect=np.log(crop_w / crop_h),
        centre_x=(offset_w + crop_w / 2) / width,
        centre_y=(offset_h + crop_h / 2) / height)


@pytest.mark.parametrize('name, size, orientation', [
    ('astronaut', (200, 150), 1),
    ('coffee', (90, 160), 1),
    ('chelsea', (151, 101), 6),  # stored turned a quarter
])
def test_crop_distribution_is_mmpretrains(name, size, orientation, tmp_path,
                                          monkeypatch):
    """4000 crops drawn by the transform on a JPEG against 4000 of
    mmpretrain's on the decoded image (independent seeds): two-sample KS
    tests on area, aspect ratio and centre. A crop range changed from 0.2
    to 0.25 is detected."""
    path = str(tmp_path / 'a.jpg')
    save_with_orientation(photo(name, size), path, orientation)
    decoded = cv2.imread(path)
    height, width = decoded.shape[:2]
    drawn = []
    params = fused_crop.random_resized_crop_params

    def recorded(*args, **kwargs):
        drawn.append(params(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(fused_crop, 'random_resized_crop_params', recorded)
    transform = DecodeRandomResizedCrop(32, crop_ratio_range=(0.2, 1.0))
    np.random.seed(1)
    for _ in range(4000):
        assert transform(dict(img_path=path))['ori_shape'] == (height, width)
    np.random.seed(2)
    reference = mmpretrain_crop(scale=32, crop_ratio_range=(0.2, 1.0))
    theirs = [reference.rand_crop_params(decoded) for _ in range(4000)]
    np.random.seed(3)
    other = mmpretrain_crop(scale=32, crop_ratio_range=(0.25, 1.0))
    shifted = [other.rand_crop_params(decoded) for _ in range(4000)]

    ours = crop_statistics(drawn, height, width)
    theirs = crop_statistics(theirs, height, width)
    for key in ours:
        assert ks_2samp(ours[key], theirs[key]).pvalue > 1e-3, key
    shifted = crop_statistics(shifted, height, width)
    assert ks_2samp(ours['area'], shifted['area']).pvalue < 1e-6


# (b) the pixels ------------------------------------------------------------


def test_reduced_decode_factor_rule():
    # (crop_w, crop_h), (out_w, out_h) -> largest f with crop / f >= out
    assert reduced_decode_factor((447, 500), (224, 224)) == 1
    assert reduced_decode_factor((448, 448), (224, 224)) == 2
    assert reduced_decode_factor((895, 1000), (224, 224)) == 2
    assert reduced_decode_factor((896, 896), (224, 224)) == 4
    assert reduced_decode_factor((4000, 3000), (224, 224)) == 8
    assert reduced_decode_factor((4000, 3000), (224, 224), max_factor=2) == 2
    # each side against its own output side
    assert reduced_decode_factor((500, 240), (250, 120)) == 2
    assert reduced_decode_factor((240, 500), (250, 120)) == 1
    assert reduced_decode_factor((100, 100), (224, 224)) == 1


def test_reduced_box_mapping():
    assert reduced_box((3, 5, 11, 9), (13, 9), 1) == (3, 5, 11, 9)
    assert reduced_box((3, 5, 11, 9), (13, 9), 2) == (1.5, 2.5, 5.5, 4.5)
    # orientation 3 (180 degrees): 13 and 9 pixels leave a 1-pixel partial
    # block of the 2 x 2 reduction at the stored right and bottom edges,
    # which come first in the displayed image
    assert reduced_box((3, 5, 11, 9), (13, 9), 2, 3) == (2, 3, 6, 5)
    assert reduced_box((0, 0, 13, 9), (13, 9), 4, 2) == (0.75, 0, 4, 2.25)
    # the whole image spans [0, L / f] or [pad / f, ceil(L / f)] of the
    # reduced image, whose sides are ceil(L / f), for every orientation
    for width, height in [(13, 9), (64, 48), (61, 45)]:
        for factor in (1, 2, 4, 8):
            reduced = (-(-width // factor), -(-height // factor))
            for orientation in range(1, 9):
                x0, y0, x1, y1 = reduced_box((0, 0, width, height),
                                             (width, height), factor,
                                             orientation)
                assert 0 <= x0 < 1 and 0 <= y0 < 1
                assert x1 - x0 == width / factor
                assert y1 - y0 == height / factor
                assert x1 <= reduced[0] and y1 <= reduced[1]


def test_resize_box_on_whole_pixels_is_crop_and_resize():
    img = photo('coffee', (101, 77))
    expected = cv2.resize(img[7:60, 3:90], (32, 24),
                          interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(resize_box(img, (3, 7, 90, 60), (32, 24)),
                          expected)
    with pytest.raises(ValueError, match='area interpolation needs a box'):
        resize_box(img, (3.5, 7, 90, 60), (32, 24), 'area')


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic'])
@pytest.mark.parametrize(
    'box, out_size',
    [
        ((10.25, 4.75, 100.5, 80.125), (30, 20)),  # shift, then resize
        ((3, 0.25, 40, 30.25), (20, 37)),  # fractional rows only
        ((0.5, 0.25, 40.6, 30.35), (40, 30)),  # scale ~1: warpAffine
    ])
def test_resize_box_samples_fractional_boxes_where_they_are(
        interpolation, box, out_size):
    """On ramps (value = x and value = y) an interpolation returns the
    coordinate it samples: every output pixel centre lands where
    cv2.resize's mapping puts it (to 0.1 pixel; OpenCV's bicubic
    weights are approximate)."""
    y, x = np.mgrid[:90, :120].astype(np.float32)
    out = resize_box(np.stack([x, y], axis=-1), box, out_size, interpolation)
    out_w, out_h = out_size
    assert out.shape == (out_h, out_w, 2)
    x0, y0, x1, y1 = box
    xs = x0 + (np.arange(out_w) + 0.5) * (x1 - x0) / out_w - 0.5
    ys = y0 + (np.arange(out_h) + 0.5) * (y1 - y0) / out_h - 0.5
    inner = (slice(1, -1), slice(1, -1))  # the image border is replicated
    assert np.abs(out[..., 0] - xs[None])[inner].max() < 0.1
    assert np.abs(out[..., 1] - ys[:, None])[inner].max() < 0.1


def assert_seeded_outputs_equal(ours, load, crop, path, seeds=range(8)):
    """``ours`` gives the output of ``crop(load(...))`` under each seed:
    the same pixels, ``img_shape`` and ``ori_shape``."""
    for seed in seeds:
        np.random.seed(seed)
        result = ours(dict(img_path=path))
        np.random.seed(seed)
        expected = crop(load(dict(img_path=path)))
        assert np.array_equal(result['img'], expected['img']), seed
        for key in ('img_shape', 'ori_shape'):
            assert result[key] == expected[key], key


def test_full_size_decode_is_the_two_step_pipeline(tmp_path):
    """f = 1 (crops below twice 224): the output of mmcv's
    LoadImageFromFile + mmpretrain's RandomResizedCrop, bit for bit, and
    the same keys."""
    path = write_jpeg(tmp_path / 'a.jpg', photo('chelsea', (451, 300)))
    assert_seeded_outputs_equal(
        DecodeRandomResizedCrop(224, crop_ratio_range=(0.2, 1.0)),
        MMPRETRAIN_TRANSFORMS.build(dict(type='LoadImageFromFile')),
        mmpretrain_crop(
            scale=224, crop_ratio_range=(0.2, 1.0), interpolation='bicubic'),
        path)


# crops as the transform draws them: (offset_h, offset_w, crop_h, crop_w)
@pytest.mark.parametrize('factor, size, crop', [
    (2, (100, 150), (0, 0, 300, 380)),  # top-left corner
    (4, (30, 40), (383 - 150, 509 - 190, 150, 190)),  # bottom-right corner
    (8, (20, 40), (383 - 175, 0, 175, 509)),  # full width, bottom edge
    (2, (48, 64), (33, 51, 129, 301)),  # inside, odd offsets
])
def test_reduced_decode_matches_a_full_decode(factor, size, crop, tmp_path,
                                              decodes):
    """A JPEG of odd size (509 x 383): the crop is decoded at 1 / f, f as
    the rule says, and looks like the full decode's crop shrunk with
    area averaging (30-38 dB here), more so than the full decode's crop
    shrunk with bicubic interpolation (20-32 dB) does, and more than like
    the crop one reduced pixel (f pixels) up, down, left or right, shrunk
    alike (17-25 dB): the right pixels, whatever the JPEG library's
    reduced-size IDCT."""
    path = write_jpeg(tmp_path / 'a.jpg', photo('astronaut', (509, 383)))
    offset_h, offset_w, crop_h, crop_w = crop
    transform = force_crop(DecodeRandomResizedCrop(size), *crop)
    result = transform(dict(img_path=path))
    assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['color',
                                                            factor])]
    assert transform.decode_factors == {factor: 1}
    assert result['img'].shape == size + (3, )
    assert result['ori_shape'] == (383, 509)
    whole = cv2.imread(path)

    def shrunk(top, left, interpolation=cv2.INTER_AREA):
        return cv2.resize(whole[top:top + crop_h, left:left + crop_w],
                          size[::-1], interpolation=interpolation)

    expected = shrunk(offset_h, offset_w)
    similarity = psnr(result['img'], expected)
    # the two-step pipeline's bicubic shrinking aliases: further away
    assert similarity > psnr(shrunk(offset_h, offset_w, cv2.INTER_CUBIC),
                             expected)
    shifted = [
        shrunk(top, left) for top, left in ((offset_h - factor, offset_w),
                                            (offset_h + factor, offset_w),
                                            (offset_h, offset_w - factor),
                                            (offset_h, offset_w + factor))
        if 0 <= top <= 383 - crop_h and 0 <= left <= 509 - crop_w
    ]
    assert shifted and similarity > max(
        psnr(result['img'], other) for other in shifted)


def save_with_orientation(displayed: np.ndarray, path: str,
                          orientation: int, quality: int = 90) -> None:
    """Store ``displayed`` (BGR) as a JPEG whose EXIF orientation turns
    the stored pixels back into ``displayed``."""
    rgb = Image.fromarray(np.ascontiguousarray(displayed[..., ::-1]))
    undo = {
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_270],
    }.get(orientation, [])
    for step in undo:
        rgb = rgb.transpose(step)
    exif = Image.Exif()
    exif[0x0112] = orientation
    rgb.save(path, 'JPEG', quality=quality, subsampling=0, exif=exif)


@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_in_reduced_decodes(orientation, tmp_path,
                                             decodes):
    """A displayed ramp (blue = 4 x, green = 4 y) of odd size stored under
    every EXIF orientation: the output is the ramp at the output pixels'
    sample points, also at 1/8 size, where the stored partial block leads
    a reversed axis by 3 pixels. OpenCV's reduced image is the one used
    (no fallback to a full decode)."""
    height, width = 45, 61
    y, x = np.mgrid[:height, :width].astype(np.float64)
    displayed = np.stack([4 * x, 4 * y, np.full_like(x, 128)], axis=-1)
    path = str(tmp_path / 'a.jpg')
    save_with_orientation(displayed.astype(np.uint8), path, orientation, 95)
    assert read_jpeg_header(open(path, 'rb').read()) == (width, height,
                                                         orientation)
    offset_h, offset_w, crop_h, crop_w = 1, 2, 41, 56
    for scale, factor in [((5, 7), 8), ((10, 14), 4), ((41, 56), 1)]:
        decodes.clear()
        result = force_crop(
            DecodeRandomResizedCrop(scale, interpolation='bilinear'),
            offset_h, offset_w, crop_h, crop_w)(dict(img_path=path))
        assert result['ori_shape'] == (height, width)
        assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['color',
                                                                factor])]
        out_h, out_w = scale
        xs = offset_w + (np.arange(out_w) + 0.5) * crop_w / out_w - 0.5
        ys = offset_h + (np.arange(out_h) + 0.5) * crop_h / out_h - 0.5
        # away from the partial blocks, whose padding bends the ramp
        inner = (slice(1, -1), slice(1, -1))
        blue = result['img'][..., 0][inner]
        green = result['img'][..., 1][inner]
        assert np.abs(blue - 4 * xs[None, 1:-1]).max() <= 3, factor
        assert np.abs(green - 4 * ys[1:-1, None]).max() <= 3, factor


def test_mpo_is_read_as_a_jpeg(tmp_path, decodes):
    """A camera's multi-picture JPEG: its first picture decoded at reduced
    size (f = 2), the output that of the picture stored alone; its data
    cut in the middle of the scan (end marker appended) refused by both
    loaders, as a JPEG's is."""
    bgr = photo('astronaut', (509, 383))
    mpo = write_mpo(tmp_path / 'camera.jpg', bgr)
    data = open(mpo, 'rb').read()
    assert Image.open(mpo).format == 'MPO'
    assert read_jpeg_header(data) == (509, 383, 1)
    jpeg = str(tmp_path / 'plain.jpg')
    Image.fromarray(bgr[..., ::-1]).save(jpeg, 'JPEG', quality=90)
    transform = force_crop(DecodeRandomResizedCrop((48, 64)), 33, 51, 129,
                           301)
    result = transform(dict(img_path=mpo))
    assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['color', 2])]
    assert np.array_equal(result['img'],
                          transform(dict(img_path=jpeg))['img'])

    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:data.find(b'\xff\xda') + 3000] + b'\xff\xd9')
    for loader in (transform, RobustLoadImageFromFile()):
        with pytest.raises(UnreadableImageError,
                           match='corrupt JPEG data') as error:
            loader(dict(img_path=str(cut)))
        assert str(cut) in str(error.value)


@pytest.mark.parametrize('size', [(64, 64), (48, 64)])
def test_xmp_orientation_is_ignored_as_by_opencv(size, tmp_path, decodes):
    """A JPEG whose only orientation is XMP's (Pillow's getexif falls back
    to it, OpenCV ignores it): every loader keeps the stored pixels, as
    OpenCV does, the crop is decoded once, and the deferred crop keeps
    the file's bytes."""
    height, width = size
    path = str(tmp_path / 'xmp.jpg')
    Image.fromarray(photo('astronaut', (width, height))[..., ::-1]).save(
        path, 'JPEG', quality=95, xmp=XMP_ORIENTATION_6)
    assert Image.open(path).getexif()[0x0112] == 6
    whole = cv2.imread(path)
    assert whole.shape[:2] == size
    assert read_jpeg_header(open(path, 'rb').read()) == (width, height, 1)
    assert np.array_equal(
        RobustLoadImageFromFile()(dict(img_path=path))['img'], whole)
    decodes.clear()
    crop = force_crop(DecodeRandomResizedCrop(size, interpolation='nearest'),
                      0, 0, height, width)
    assert np.array_equal(crop(dict(img_path=path))['img'], whole)
    assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['color', 1])]
    deferred = DeferredRandomResizedCrop()(dict(img_path=path))
    assert 'jpeg' in deferred and deferred['ori_shape'] == size


@pytest.mark.parametrize(
    'tiff', [b'XX\x00*' + b'\xff' * 20, b'II', b'II*\x00\x08\x00\x00'])
def test_damaged_exif_block_is_ignored_as_by_opencv(tiff, tmp_path,
                                                    decodes):
    """A JPEG whose EXIF block Pillow cannot parse (a bad byte-order mark,
    a header cut short, an IFD offset cut short): its pixels are fine,
    and OpenCV, PIL's ``convert('RGB')`` and mmcv read them unturned.
    Every loader reads them too (they were refused as 'not a readable
    image'), the crop is decoded once by OpenCV and the deferred crop
    keeps the file's bytes."""
    bgr = photo('astronaut', (64, 48))
    data = cv2.imencode('.jpg', bgr)[1].tobytes()
    segment = b'Exif\x00\x00' + tiff
    app1 = b'\xff\xe1' + (len(segment) + 2).to_bytes(2, 'big') + segment
    path = str(tmp_path / 'camera.jpg')
    open(path, 'wb').write(data[:2] + app1 + data[2:])  # after SOI
    with pytest.raises((SyntaxError, struct.error)):
        Image.Exif().load(Image.open(path).info['exif'])
    whole = cv2.imread(path)
    assert np.array_equal(whole, cv2.imdecode(np.frombuffer(data, np.uint8),
                                               cv2.IMREAD_COLOR))
    assert np.array_equal(
        np.asarray(Image.open(path).convert('RGB')), whole[..., ::-1])
    assert read_jpeg_header(open(path, 'rb').read()) == (64, 48, 1)
    assert np.array_equal(
        RobustLoadImageFromFile()(dict(img_path=path))['img'], whole)
    decodes.clear()
    crop = force_crop(
        DecodeRandomResizedCrop((48, 64), interpolation='nearest'), 0, 0,
        48, 64)
    assert np.array_equal(crop(dict(img_path=path))['img'], whole)
    assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['color', 1])]
    deferred = DeferredRandomResizedCrop()(dict(img_path=path))
    assert 'jpeg' in deferred and deferred['ori_shape'] == (48, 64)


# (c) other files, channels and arguments ------------------------------------


def test_png_takes_the_full_decode_path(tmp_path):
    """A PNG is decoded by decode_image: the output of
    RobustLoadImageFromFile + RandomResizedCrop, bit for bit."""
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, photo('coffee', (150, 100)))
    assert read_jpeg_header(open(path, 'rb').read()) is None
    assert_seeded_outputs_equal(
        DecodeRandomResizedCrop(32), RobustLoadImageFromFile(),
        mmpretrain_crop(scale=32, interpolation='bicubic'), path)


def test_unusual_images_are_converted(tmp_path):
    """16-bit PNG, RGBA PNG and CMYK JPEG go through decode_image."""
    grey16 = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'g16.png'), grey16)
    rgba = np.zeros((48, 64, 4), np.uint8)  # fully transparent
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'rgba.png')
    cmyk = Image.fromarray(photo('chelsea', (64, 48))[..., ::-1]).convert(
        'CMYK')
    cmyk.save(tmp_path / 'cmyk.jpg', quality=95)
    assert read_jpeg_header((tmp_path / 'cmyk.jpg').read_bytes()) is None
    transform = DecodeRandomResizedCrop(16)
    for name in ('g16.png', 'rgba.png', 'cmyk.jpg'):
        img = transform(dict(img_path=str(tmp_path / name)))['img']
        assert img.shape == (16, 16, 3) and img.dtype == np.uint8, name
    img = transform(dict(img_path=str(tmp_path / 'rgba.png')))['img']
    assert (img == 255).all()  # the white background


@pytest.mark.parametrize('size, crop', [((224, 224), (0, 0, 300, 451)),
                                        ((32, 40), (20, 31, 250, 400))])
def test_grayscale(size, crop, tmp_path, decodes):
    """A colour JPEG read as grey, at full and at reduced size (f = 4),
    against a full grey decode of the crop."""
    path = write_jpeg(tmp_path / 'a.jpg', photo('chelsea'))
    transform = force_crop(
        DecodeRandomResizedCrop(size, color_type='grayscale'), *crop)
    result = transform(dict(img_path=path))
    factor = 1 if size == (224, 224) else 4
    assert decodes == [('imdecode', fused_crop.IMREAD_FLAGS['grayscale',
                                                            factor])]
    assert result['img'].shape == result['img_shape'] == size
    offset_h, offset_w, crop_h, crop_w = crop
    grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)[offset_h:offset_h + crop_h,
                                                  offset_w:offset_w + crop_w]
    if size == (224, 224):
        expected = cv2.resize(grey, (224, 224), interpolation=cv2.INTER_CUBIC)
        assert np.array_equal(result['img'], expected)
    else:
        expected = cv2.resize(grey, size[::-1], interpolation=cv2.INTER_AREA)
        assert psnr(result['img'], expected) > 30


def test_decode_factors_count_the_decodes_made(tmp_path, monkeypatch):
    """Per f, the crops decoded at 1 / f: a reduced JPEG decode at its f,
    the full-decode fallback (a PNG, a JPEG OpenCV fails on) at 1."""
    jpeg = write_jpeg(tmp_path / 'a.jpg', photo('chelsea'))  # 451 x 300
    png = str(tmp_path / 'a.png')
    cv2.imwrite(png, photo('chelsea'))
    # a 451 x 300 crop holds 8 x 32 pixels both ways: f = 8
    transform = force_crop(DecodeRandomResizedCrop(32), 0, 0, 300, 451)
    for path in (jpeg, png, jpeg):
        transform(dict(img_path=path))
    assert transform.decode_factors == {8: 2, 1: 1}
    monkeypatch.setattr(cv2, 'imdecode', lambda buf, flags: None)
    transform(dict(img_path=jpeg))
    assert transform.decode_factors == {8: 2, 1: 2}


@pytest.mark.parametrize('kind', ['truncated', 'empty', 'not_an_image'])
def test_unreadable_file_raises_naming_it(kind, bad_files):  # noqa: F811
    path, problem = bad_files[kind]
    with pytest.raises(UnreadableImageError) as error:
        DecodeRandomResizedCrop(16)(dict(img_path=str(path)))
    assert str(path) in str(error.value) and problem in str(error.value)


def test_unreadable_files_can_be_skipped(bad_files, tmp_path):  # noqa: F811
    transform = DecodeRandomResizedCrop(16, on_error='skip')
    for path, _ in bad_files.values():
        assert transform(dict(img_path=str(path))) is None
    assert transform(dict(img_path=str(tmp_path / 'gone.jpg'))) is None
    assert transform.pop_num_skipped() == 4
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        DecodeRandomResizedCrop(16)(dict(img_path=str(tmp_path / 'gone.jpg')))


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(scale=0), ValueError, 'scale must be'),
    (dict(scale=(224, )), TypeError, 'scale must be'),
    (dict(scale=(224, 22.4)), TypeError, 'scale must be'),
    (dict(scale=224.0), TypeError, 'scale must be'),
    (dict(scale=True), TypeError, 'scale must be'),
    (dict(scale='ab'), TypeError, 'scale must be'),
    (dict(crop_ratio_range=0.5), ValueError, 'crop_ratio_range must be'),
    (dict(crop_ratio_range='ab'), ValueError, 'crop_ratio_range must be'),
    (dict(crop_ratio_range=(0.2, math.nan)), ValueError,
     'crop_ratio_range must be'),
    (dict(crop_ratio_range=(0.5, 0.2)), ValueError,
     'crop_ratio_range must be'),
    (dict(crop_ratio_range=(0, 1)), ValueError, 'crop_ratio_range must be'),
    (dict(crop_ratio_range=(0.2, 1.5)), ValueError,
     'crop_ratio_range must be'),
    (dict(aspect_ratio_range=(2, 1)), ValueError,
     'aspect_ratio_range must be'),
    (dict(aspect_ratio_range=(0.5, 1, 2)), ValueError,
     'aspect_ratio_range must be'),
    (dict(aspect_ratio_range=2.0), ValueError, 'aspect_ratio_range must be'),
    (dict(aspect_ratio_range=(1, math.inf)), ValueError,
     'aspect_ratio_range must be'),
    (dict(max_attempts=-1), ValueError, 'max_attempts must be'),
    (dict(interpolation='cubic'), ValueError, 'interpolation must be one of'),
    (dict(color_type='unchanged'), ValueError, 'color_type must be one of'),
    (dict(on_error='ignore'), ValueError, 'on_error must be one of'),
    (dict(background=256), ValueError, 'background must be'),
    (dict(max_decode_factor=3), ValueError, 'max_decode_factor must be'),
    (dict(max_decode_factor=True), TypeError, 'max_decode_factor must be'),
    (dict(antialias='no'), TypeError, 'antialias must be True or False'),
    (dict(antialias=1), TypeError, 'antialias must be True or False'),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        DecodeRandomResizedCrop(**{'scale': 224, **kwargs})


@pytest.mark.parametrize('kwargs', [
    dict(scale=[160, 240], crop_ratio_range=[0.2, 1],
         aspect_ratio_range=[1, 2]),
    dict(scale=np.int64(160), crop_ratio_range=np.array([0.5, 1.0])),
])
def test_mmpretrain_arguments_are_accepted(kwargs, tmp_path):
    """Lists, NumPy ints and arrays, as mmpretrain's RandomResizedCrop
    takes them: the same output (crops below twice the output size, f =
    1)."""
    path = write_jpeg(tmp_path / 'a.jpg', photo('chelsea', (451, 300)))
    transform = DecodeRandomResizedCrop(**kwargs)
    assert all(type(side) is int for side in transform.scale)
    assert_seeded_outputs_equal(
        transform,
        MMPRETRAIN_TRANSFORMS.build(dict(type='LoadImageFromFile')),
        mmpretrain_crop(interpolation='bicubic', **kwargs), path)


def test_builds_from_a_config():
    transform = TRANSFORMS.build(
        dict(type='DecodeRandomResizedCrop', scale=(96, 128)))
    assert isinstance(transform, DecodeRandomResizedCrop)
    assert transform.scale == (96, 128)
    assert transform.interpolation == 'bicubic'
