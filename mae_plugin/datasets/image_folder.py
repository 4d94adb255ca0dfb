"""A folder of images in which nothing is left out silently."""
import os
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger
from mmpretrain.datasets import CustomDataset

from mae_plugin.registry import DATASETS
from mae_plugin.utils import config_items
from .transforms.loading import IMAGE_EXTENSIONS, printable


def _image_name(name: str, extensions: Sequence[str]) -> bool:
    """Whether ``CustomDataset`` lists a file of this name as an image:
    not hidden, with one of ``extensions`` (lower-case; any case in the
    name)."""
    return not name.startswith('.') and name.lower().endswith(
        tuple(extensions))


def survey_folder(
        root: str,
        extensions: Sequence[str],
        with_label: bool = False) -> Tuple[Dict[str, List[str]], List[str]]:
    """One walk of ``root`` as mmpretrain's ``CustomDataset`` lists it
    (recursively, following links, hidden files left out): what it does
    not take as an image, and the hidden folders it takes images from.

    Not taken, by reason: ``'other extension'``, ``'hidden'``,
    ``'broken link'`` (or another entry that is no file, such as a
    socket), ``'folder with an image name'`` (its contents are walked)
    and, with labels, ``'outside the class folders'`` (images directly in
    ``root``: ``CustomDataset`` walks the class sub-folders only).

    Hidden folders (``.ipynb_checkpoints``, ``.thumbnails``, ...): the
    listing leaves out hidden files, not hidden folders, so the images in
    them are taken and, with labels, a hidden folder directly in ``root``
    is a class (torchvision's ``ImageFolder`` does the same). Only the
    outermost hidden folder of a path is named; one that holds no image is
    left out unless it is a class.

    Args:
        root (str): Local folder.
        extensions (Sequence[str]): Lower-case image extensions.
        with_label (bool): Whether the images are listed by class
            sub-folder. Defaults to False.

    Returns:
        tuple: reason -> paths relative to ``root``, sorted; and the
        hidden folders, relative to ``root``, sorted.
    """
    ignored, hidden = defaultdict(list), set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        parts = [] if folder == root else osp.relpath(folder, root).split(
            os.sep)
        # the outermost hidden folder this one is in, if any
        outermost = next((osp.join(*parts[:i + 1])
                          for i, part in enumerate(parts)
                          if part.startswith('.')), None)
        for name in dirs:
            if name.lower().endswith(tuple(extensions)):
                ignored['folder with an image name'].append(
                    osp.relpath(osp.join(folder, name), root))
            if with_label and folder == root and name.startswith('.'):
                hidden.add(name)  # a class
        for name in files:
            path = osp.join(folder, name)
            image_name = _image_name(name, extensions)
            if outermost is not None and image_name:
                hidden.add(outermost)
            if name.startswith('.'):
                reason = 'hidden'
            elif not osp.isfile(path):
                reason = 'broken link'
            elif not image_name:
                reason = 'other extension'
            elif with_label and folder == root:
                reason = 'outside the class folders'
            else:
                continue
            ignored[reason].append(osp.relpath(path, root))
    return ({reason: sorted(paths)
             for reason, paths in ignored.items()}, sorted(hidden))


def check_image_folder(name: str,
                       folder: str,
                       extensions: Sequence[str] = IMAGE_EXTENSIONS,
                       with_label: bool = False) -> str:
    """Refuse a local folder in which :class:`ImageFolder` would list no
    image (recursively, following links, hidden files left out; with
    labels, in the class sub-folders only), before the dataset is built:
    mmpretrain's ``CustomDataset`` raised ``Found 0 files in subfolders``,
    or ``FileNotFoundError`` for a missing folder, once a run had begun.
    The walk stops at the first image.

    Args:
        name (str): What the messages call the folder.
        folder (str): Local folder.
        extensions (Sequence[str]): Lower-case image extensions. Defaults
            to ``IMAGE_EXTENSIONS``.
        with_label (bool): Whether the images are listed by class
            sub-folder. Defaults to False.

    Returns:
        str: ``folder``.

    Raises:
        FileNotFoundError: ``folder`` is no folder.
        ValueError: ``folder`` holds no image.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(
            f'{name} must be a folder of images, got {folder!r}, which is '
            'no folder')
    for root, _, files in os.walk(folder, followlinks=True):
        if with_label and root == folder:
            continue  # CustomDataset walks the class sub-folders only
        for file in files:
            if _image_name(file, extensions) and osp.isfile(
                    osp.join(root, file)):
                return folder
    where = ' in class sub-folders (with_label=True)' if with_label else ''
    raise ValueError(
        f'{name} must be a folder of images, got {folder!r}, which holds '
        f'none{where}; image extensions: {" ".join(sorted(extensions))}')


def check_image_folders(cfg: dict, *keys: str) -> None:
    """Refuse, before the datasets are built, every :class:`ImageFolder`
    (or subclass) in the config entries ``keys`` whose local folder
    (``data_root`` joined with ``data_prefix``) lists no image
    (:func:`check_image_folder`, named by the key that sets the folder).
    Datasets of other types, and those that read an ``ann_file``, URLs or
    their ``backend_args``, are left to their own builds.

    Args:
        cfg (dict): A run's config.
        *keys (str): Its entries to check, e.g. ``'train_dataloader'``.

    Raises:
        FileNotFoundError: A folder does not exist.
        ValueError: A folder holds no image.
    """
    for name in keys:
        for key, dataset in config_items(cfg.get(name), name):
            if not (isinstance(dataset, dict)
                    and _is_image_folder(dataset.get('type'))
                    and not dataset.get('ann_file')
                    and not dataset.get('backend_args')):
                continue
            root, prefix = dataset.get('data_root') or '', dataset.get(
                'data_prefix') or ''
            if isinstance(prefix, dict):
                prefix = prefix.get('img_path') or ''
            folder = prefix if osp.isabs(prefix) or not root else (
                osp.join(root, prefix) if prefix else root)
            if folder and '://' not in folder:
                check_image_folder(
                    f'{key}.{"data_prefix" if prefix else "data_root"}',
                    folder, dataset.get('extensions', IMAGE_EXTENSIONS),
                    dataset.get('with_label', True))


def _is_image_folder(kind) -> bool:
    """Whether a dataset ``type`` (a registered name or a class) is
    :class:`ImageFolder` or a subclass of it."""
    if isinstance(kind, str):
        kind = DATASETS.get(kind)
    return isinstance(kind, type) and issubclass(kind, ImageFolder)


@DATASETS.register_module()
class ImageFolder(CustomDataset):
    """mmpretrain's ``CustomDataset`` that takes every extension the
    plugin's loaders read (``IMAGE_EXTENSIONS``: JPEG, PNG, TIFF, WebP,
    BMP, GIF, PNM, TGA, JPEG 2000) and says, once, what it left out of a
    local folder: files with other extensions (counted by extension),
    hidden files, broken links, folders named like images and, with
    ``with_label=True``, images outside the class sub-folders (directly
    in the root), with their number and the first names, as a warning in
    the current logger. The same warning names the hidden folders it took
    (:func:`survey_folder`: their images, and with labels, one directly
    in the root as a class). A labelled ``ann_file`` line that is not
    ``<image path> <int label>`` is named by its number.

    Args:
        extensions (Sequence[str]): File extensions taken as images.
            Defaults to ``IMAGE_EXTENSIONS``.
        **kwargs: ``CustomDataset``'s other arguments (``data_root``,
            ``data_prefix``, ``ann_file``, ``with_label``, ``pipeline``,
            ...).

    Raises:
        TypeError: ``extensions`` is one string (its letters would be
            taken as the extensions: ``'.png'`` takes ``.jpg`` files).
        ValueError: a labelled ``ann_file`` has a line without a label
            (blank, or a tab before it) or with a label that is not an
            int.
    """

    def __init__(self,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        if isinstance(extensions, str):
            raise TypeError('extensions must be a sequence of extensions, '
                            f'such as [{extensions!r}], got the string '
                            f'{extensions!r}')
        super().__init__(extensions=extensions, **kwargs)

    def load_data_list(self) -> List[dict]:
        try:
            data_list = super().load_data_list()
        except ValueError as error:  # mmpretrain's unpacking or int()
            bad_line = self._bad_ann_line()
            if bad_line is None:
                raise
            raise ValueError(bad_line) from error
        if not self.ann_file and '://' not in self.img_prefix:
            self._report_ignored(len(data_list))
        if self.ann_file and not self.with_label and data_list:
            self._refuse_a_labelled_list(data_list[0]['img_path'])
        return data_list

    def _refuse_a_labelled_list(self, first: str) -> None:
        """Refuse an ``ann_file`` of ``<image path> <int label>`` lines read
        with ``with_label=False``, which takes each line whole as a path:
        its first entry is no file, and would be one without its label
        (else every image failed to load, at the first batch)."""
        path, _, label = first.rpartition(' ')
        if ('://' in first or osp.exists(first) or not path
                or not label.isdigit() or not osp.isfile(path)):
            return
        raise ValueError(
            f'ann_file {self.ann_file} lists "<image path> <int label>" '
            f'lines, which with_label=False reads as paths ({first!r} is no '
            'file): set with_label=True, or list the image paths alone')

    def _bad_ann_line(self) -> Optional[str]:
        """The first line of a labelled ``ann_file`` that is not
        ``<image path> <int label>``, described, or None."""
        if not (self.ann_file and self.with_label):
            return None
        lines = list_from_file(self.ann_file)
        for number, line in enumerate(lines, start=1):
            fields = line.strip().rsplit(' ', 1)  # as mmpretrain splits
            try:
                int(fields[1])
            except (IndexError, ValueError):
                return (f'ann_file {self.ann_file} line {number} must be '
                        f'"<image path> <int label>", got {line!r}')
        return None

    def _report_ignored(self, num_images: int) -> None:
        ignored, hidden = survey_folder(self.img_prefix, self.extensions,
                                        self.with_label)
        if not (ignored or hidden):
            return
        parts = []
        for reason, paths in sorted(ignored.items()):
            detail = ', '.join(paths[:3]) + (', ...' if len(paths) > 3 else '')
            if reason == 'other extension':
                counts = Counter(
                    osp.splitext(p)[1].lower() or '(none)' for p in paths)
                detail = ', '.join(f'{ext}: {n}'
                                   for ext, n in sorted(counts.items()))
            parts.append(f'{len(paths)} {reason} ({detail})')
        total = sum(len(paths) for paths in ignored.values())
        notes = [f'ignored {total} entries: {"; ".join(parts)}'
                 ] if parts else []
        if hidden:
            notes.append(
                f'took the images in {len(hidden)} hidden folders '
                f'({", ".join(hidden)}), as mmpretrain and torchvision do' +
                (' (one directly in the root is a class)'
                 if self.with_label else ''))
        MMLogger.get_current_instance().warning(
            printable(f'{type(self).__name__}: {num_images} images in '
                      f'{self.img_prefix}; {"; ".join(notes)}. Image '
                      f'extensions: {" ".join(sorted(self.extensions))}'))
