"""Mutation harness: do the tests fail when a promise breaks?

Copies the repository to a temporary folder, runs the guarding tests of
every mutation there once unchanged (they must pass), then for each
mutation of :mod:`tests.mutation.mutations` applies it to the copy, runs
its tests against the copy's package and restores the file. A mutation is
*caught* when pytest reports failing tests, *survived* when they pass.
Not part of the default test suite (no ``test_*.py`` here); run it as::

    PYTHONPATH=. .venv/bin/python tests/mutation/run.py [NAME ...]

It exits with 0 only when every mutation was caught. A mutation whose
text is no longer in its file stops the run before anything is tested.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.mutation.mutations import MUTATIONS, Mutation  # noqa: E402

# What a copy leaves out: VCS data, environments, outputs, caches.
IGNORED = shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data',
                                 '__pycache__', '.pytest_cache', '*.egg-info',
                                 'build', 'dist')


class MutationError(RuntimeError):
    """A mutation that cannot be applied, or a harness run gone wrong."""


def mutated_text(mutation: Mutation, text: str) -> str:
    """``text`` with the mutation applied.

    Raises:
        MutationError: If ``mutation.old`` is not in ``text`` exactly once.
    """
    count = text.count(mutation.old)
    if count != 1:
        raise MutationError(
            f'mutation {mutation.name} no longer applies: {mutation.path} '
            f'holds its text {count} times, not once: {mutation.old!r}')
    return text.replace(mutation.old, mutation.new)


def check_all_apply(root: str, mutations: Sequence[Mutation]) -> None:
    """Raise one error naming every mutation that does not apply."""
    errors = []
    for mutation in mutations:
        with open(osp.join(root, mutation.path)) as f:
            try:
                mutated_text(mutation, f.read())
            except MutationError as error:
                errors.append(str(error))
    if errors:
        raise MutationError('\n'.join(errors))


def run_pytest(copy: str, tests: Sequence[str]) -> subprocess.CompletedProcess:
    """Run ``tests`` in ``copy`` on the copy's package, without writing
    bytecode (a mutation of the same length and second must not leave a
    stale ``.pyc`` behind) and in file order."""
    env = dict(os.environ, PYTHONPATH=copy, PYTHONDONTWRITEBYTECODE='1')
    command = [sys.executable, '-m', 'pytest', '-x', '-q', '-p']
    command += ['no:randomly', '-p', 'no:cacheprovider', *tests]
    return subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True)


def failed_tests(output: str) -> List[str]:
    """The node ids pytest's summary lists as failed."""
    return [
        line.split()[1] for line in output.splitlines()
        if line.startswith('FAILED ')
    ]


def check_copy_is_imported(copy: str) -> None:
    """The tests must import the copy's package, not an installed one."""
    env = dict(os.environ, PYTHONPATH=copy)
    code = 'import mae_plugin; print(mae_plugin.__file__)'
    result = subprocess.run([sys.executable, '-c', code],
                            cwd=copy,
                            env=env,
                            capture_output=True,
                            text=True,
                            check=True)
    imported = result.stdout.strip()
    if not imported.startswith(copy + os.sep):
        raise MutationError(f'the tests import {imported}, not the copy in '
                            f'{copy}')


def run_mutation(copy: str, mutation: Mutation) -> Dict[str, object]:
    """Apply, test, restore; return the outcome."""
    path = osp.join(copy, mutation.path)
    with open(path) as f:
        original = f.read()
    with open(path, 'w') as f:
        f.write(mutated_text(mutation, original))
    start = time.time()
    try:
        result = run_pytest(copy, mutation.tests)
    finally:
        with open(path, 'w') as f:
            f.write(original)
    failed = failed_tests(result.stdout)
    if result.returncode == 0:
        outcome = 'survived'
    elif result.returncode == 1 and failed:
        outcome = 'caught'
    else:  # collection errors, usage errors: neither caught nor survived
        outcome = f'error (pytest exit {result.returncode})'
    return dict(
        name=mutation.name,
        outcome=outcome,
        failed=failed,
        seconds=time.time() - start,
        output=result.stdout[-3000:] + result.stderr[-2000:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'names', nargs='*', help='mutations to run (default: all)')
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTATIONS}
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f'unknown mutations {unknown}; known: {sorted(known)}')
    mutations = [known[n] for n in args.names] or list(MUTATIONS)
    check_all_apply(ROOT, mutations)
    with tempfile.TemporaryDirectory(prefix='mae_mutation_') as tmp:
        copy = osp.join(tmp, 'repo')
        shutil.copytree(ROOT, copy, ignore=IGNORED)
        check_copy_is_imported(copy)
        guards = list(dict.fromkeys(t for m in mutations for t in m.tests))
        baseline = run_pytest(copy, guards)
        if baseline.returncode != 0:
            raise MutationError('the guarding tests fail without any '
                                'mutation:\n' + baseline.stdout[-3000:])
        print(f'baseline: {len(guards)} guarding test files/ids pass')
        results = []
        for mutation in mutations:
            result = run_mutation(copy, mutation)
            results.append(result)
            print(
                f"{result['name']:36} {result['outcome']:9} "
                f"{result['seconds']:6.1f}s  "
                f"{', '.join(result['failed'][:2])}",
                flush=True)
            if result['outcome'] != 'caught':
                print(result['output'])
    caught = sum(r['outcome'] == 'caught' for r in results)
    print(f'{caught} of {len(results)} mutations caught')
    return 0 if caught == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
