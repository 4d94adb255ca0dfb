"""The report writer of the experiments."""
import json

import pytest

from mae_plugin.experiments import write_json, write_markdown


def test_json_that_cannot_be_written_leaves_the_earlier_result(tmp_path):
    path = tmp_path / 'runs' / 'result.json'
    write_json({'images_per_s': [4.2, 4.3]}, str(path))
    with pytest.raises(TypeError, match='not JSON serializable'):
        write_json({'images_per_s': [4.4], 'spec': object()}, str(path))
    assert json.loads(path.read_text()) == {'images_per_s': [4.2, 4.3]}
    # no temporary file is left beside it
    assert [p.name for p in path.parent.iterdir()] == ['result.json']


def test_markdown_is_written_with_a_final_newline(tmp_path):
    path = tmp_path / 'report' / 'table.md'
    write_markdown(['| a |', '|---|'], str(path))
    assert path.read_text() == '| a |\n|---|\n'
