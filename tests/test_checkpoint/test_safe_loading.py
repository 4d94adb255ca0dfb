import argparse
import os
import pickle
import threading
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from safetensors.torch import save_file

import mae_plugin  # noqa: F401  (allowlists mmengine's checkpoint types)
from mae_plugin.checkpoint.safe_loading import (history_buffer_method,
                                            load_checkpoint_safely)


def test_mmengine_message_hub_round_trips_under_weights_only(tmp_path):
    hub = MessageHub('safe-loading-test')
    for value in [1.0, 0.5, 0.25]:
        hub.update_scalar('train/loss', value)
    hub.update_info('epoch', 3)
    ckpt = dict(
        state_dict={'w': torch.ones(2)},
        message_hub=hub.state_dict(),
        meta=dict(seed=np.int64(7), lr=np.array([1e-3, 2e-3])))
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    for loaded in [torch.load(path, weights_only=True),
                   load_checkpoint_safely(str(path))]:
        buffer = loaded['message_hub']['log_scalars']['train/loss']
        assert isinstance(buffer, HistoryBuffer)
        assert buffer.mean() == pytest.approx(1.75 / 3)
        assert buffer.current() == 0.25
        assert buffer.statistics('max') == 1.0
        assert buffer.statistics('min') == 0.25
        assert loaded['meta']['seed'] == 7
        assert np.allclose(loaded['meta']['lr'], [1e-3, 2e-3])


class _RunsCode:
    """A pickle payload that would create a marker file when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.mark.parametrize('zip_format', [True, False])
def test_checkpoint_that_would_run_code_is_refused(tmp_path, zip_format):
    """In torch's zip format and in its legacy one (a bare pickle stream,
    as torch < 1.6 wrote)."""
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(pickle.UnpicklingError,
                       match='(?s)refusing to load checkpoint .*evil.pth.*'
                       'could run code.*system'):
        load_checkpoint_safely(str(path))
    assert not marker.exists()


def test_refusing_a_blocked_global_gives_no_advice_to_load_it_unsafely(
        tmp_path):
    """torch words a global of a blocked module (``os.system``) without its
    'WeightsUnpickler error:' marker; the refusal still quotes the reason
    alone, not torch's advice to re-run with ``weights_only=False``."""
    path = tmp_path / 'evil.pth'
    torch.save({'payload': _RunsCode(tmp_path / 'pwned')}, path)
    with pytest.raises(pickle.UnpicklingError) as error:
        load_checkpoint_safely(str(path))
    message = str(error.value)
    assert message.startswith(
        f'refusing to load checkpoint {path}: torch\'s weights-only '
        'unpickler rejects it (objects outside its allowlist, loading it '
        'could run code, or pickle it cannot check): Trying to load '
        f'unsupported GLOBAL {os.system.__module__}.system whose module '
        f'{os.system.__module__} is blocked. If you trust the file')
    assert 'weights_only` set to `False`' not in message
    assert 'Check the documentation' not in message


@pytest.mark.parametrize('content', [
    b'', b'hello world\n', b'garbage', 'half', 'damaged'])
def test_file_that_is_no_checkpoint_is_named_as_unreadable(
        tmp_path, content):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, good)
    data = good.read_bytes()
    if content == 'half':
        content = data[:len(data) // 2]
    elif content == 'damaged':
        content = data[:200] + bytes(100) + data[300:]
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(ValueError, match='checkpoint .*bad.pth is not a '
                       'readable torch checkpoint'):
        load_checkpoint_safely(str(path))


def test_a_safetensors_file_read_as_a_torch_file_is_named(tmp_path):
    path = str(tmp_path / 'model.pth')
    save_file({'w': torch.ones(2)}, path)
    with pytest.raises(ValueError, match=r'model.pth is not a readable torch '
                       r'checkpoint.*possibly a safetensors file \(read it '
                       r'with safetensors\)'):
        load_checkpoint_safely(path)


def test_getattr_in_a_checkpoint_only_resolves_statistics_methods():
    for name in ['min', 'max', 'current', 'mean']:
        assert history_buffer_method(HistoryBuffer, name) is getattr(
            HistoryBuffer, name)
    for owner, name in [(os, 'system'), (HistoryBuffer, '__init__'),
                        (HistoryBuffer, 'update'),
                        (HistoryBuffer, 'statistics'),
                        (HistoryBuffer, 'register_statistics')]:
        with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
            history_buffer_method(owner, name)


class _CallsAllowedMethod:
    """A pickle payload that calls a resolved ``HistoryBuffer`` method."""

    def __reduce__(self):
        return (HistoryBuffer.mean, (1, ))


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
def test_pickles_torch_refuses_for_any_reason_are_refusals(tmp_path):
    """Every weights-only refusal is named a refusal with torch's reason,
    not a damaged file: a call of an allowed function, a pickle protocol
    torch's unpickler does not check."""
    cases = [(_CallsAllowedMethod(), 2, 'reduce for unrecognized function'),
             ({'w': torch.ones(2)}, 4, 'Unsupported operand 149')]
    for payload, protocol, reason in cases:
        path = tmp_path / f'p{protocol}.pth'
        torch.save({'x': payload}, path, pickle_protocol=protocol)
        with pytest.raises(pickle.UnpicklingError) as error:
            load_checkpoint_safely(str(path))
        message = str(error.value)
        assert message.startswith(f'refusing to load checkpoint {path}')
        assert reason in message
        assert 'Check the documentation' not in message


def test_crafted_getattr_chain_is_refused(tmp_path):
    """A pickle that calls getattr on an allowed class for anything but a
    statistics method is stopped by the stand-in."""

    class Evil:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)
    # the archive really names the getattr global
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist()
                                 if n.endswith('data.pkl')))
    assert b'getattr' in data


def training_checkpoint(path):
    """A file holding its command line as an ``argparse.Namespace``, as
    the official MAE code's training checkpoints do; returns that."""
    args = argparse.Namespace(lr=0.1, batch_size=2)
    torch.save({'model': {'w': torch.ones(2)}, 'args': args}, path)
    return args


def test_a_load_that_ends_leaves_namespace_to_another_threads_load(
        tmp_path, monkeypatch):
    """torch's ``safe_globals`` context of the load that ended first
    removed ``argparse.Namespace`` from torch's list while another
    thread's load was still reading, which then refused the file."""
    path = str(tmp_path / 'checkpoint-1.pth')
    args = training_checkpoint(path)
    load, results = torch.load, []
    reading, go = threading.Event(), threading.Event()

    def held_load(*load_args, **kwargs):
        if threading.current_thread() is thread:
            reading.set()  # inside load_checkpoint_safely's allowance
            go.wait(timeout=60)
        return load(*load_args, **kwargs)

    def first_load():
        try:
            results.append(load_checkpoint_safely(path)['args'])
        except pickle.UnpicklingError as error:
            results.append(error)

    monkeypatch.setattr(torch, 'load', held_load)
    thread = threading.Thread(target=first_load)
    thread.start()
    assert reading.wait(timeout=60)
    second = load_checkpoint_safely(path)['args']  # from start to end
    go.set()
    thread.join(timeout=60)
    assert (second, results) == (args, [args])
    assert argparse.Namespace not in torch.serialization.get_safe_globals()


def test_a_load_keeps_the_process_allowance_of_namespace(tmp_path):
    """The exit of torch's ``safe_globals`` context removed
    ``argparse.Namespace`` even when the process had allowed it itself."""
    path = str(tmp_path / 'checkpoint-1.pth')
    args = training_checkpoint(path)
    before = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        assert load_checkpoint_safely(path)['args'] == args
        assert torch.load(path, weights_only=True)['args'] == args
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)
