"""A folder of images in which nothing is left out silently."""
import os
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger
from mmpretrain.datasets import CustomDataset

from mae_plugin.registry import DATASETS
from .transforms.loading import IMAGE_EXTENSIONS, printable


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
            image_name = (not name.startswith('.')
                          and name.lower().endswith(tuple(extensions)))
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
        return data_list

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
