"""code_exec and pylint_check (llm-jp-eval's CG metrics), with real sandboxed processes."""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from wasurenai.code_exec import (
    Limits, Sandbox, code_exec, code_exec_scores, parse_tests, pylint_check, pylint_scores,
    sandbox_protections,
)
from wasurenai.common import WorkflowError
from wasurenai.metrics import NOT_EVALUATED, MetricSuite

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

FAST = Limits(wall_s=2.0, cpu_s=2)
ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]
FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
PROTECTIONS = sandbox_protections(FAST)


def run(code: str, tests=(), limits: Limits = FAST):
    with Sandbox(limits, jobs=1) as box:
        return box.run(code, list(tests))


def _procs() -> dict[int, tuple[int, int]]:
    """{pid: (ppid, uid)} of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            out[int(entry)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
    return out


def _descendants(procs: dict, root: int) -> set[int]:
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        kids = {p for p, (pp, _) in procs.items() if pp == parent}
        todo += list(kids - found)
        found |= kids
    return found


def _strays(before: dict) -> set[int]:
    """Our descendants and sandbox-user processes that were not there before."""
    now = _procs()
    mine = _descendants(now, os.getpid())
    sandbox_user = {p for p, (_, uid) in now.items() if os.geteuid() == 0 and uid == 65534}
    return (mine | sandbox_user) - set(before)


# --- code_exec semantics ------------------------------------------------------------------

def test_correct_code_passes():
    result = run(ADD, ADD_TESTS)
    assert result.passed, result.status
    assert result.status == "passed"


def test_wrong_answer_fails():
    result = run("def add(a, b):\n    return a - b\n", ADD_TESTS)
    assert not result.passed
    assert result.status == "exception: AssertionError"


def test_only_the_failing_test_decides():
    assert run(ADD, ["assert add(1, 2) == 3"]).passed
    assert not run(ADD, ["assert add(1, 2) == 3", "assert add(1, 2) == 4"]).passed


def test_syntax_error_fails():
    result = run("def add(a, b)\n    return a + b\n", ADD_TESTS)
    assert not result.passed and result.status == "exception: SyntaxError"


def test_code_runs_once_then_tests_share_its_namespace():
    code = "calls = []\ndef f():\n    calls.append(1)\n    return len(calls)\n"
    assert run(code, ["assert f() == 1", "assert f() == 2"]).passed


def test_main_block_does_not_run_and_exit_fails():
    assert run("if __name__ == '__main__':\n    raise SystemExit(1)\n").passed
    assert not run("import sys\nsys.exit(0)\n").passed  # SystemExit is a failure
    assert not run("import os\nos._exit(0)\n").passed   # so is leaving without the tests


def test_infinite_loop_times_out():
    t0 = time.perf_counter()
    result = run("import time\nwhile True:\n    time.sleep(0.01)\n", limits=Limits(wall_s=1.0))
    elapsed = time.perf_counter() - t0
    assert not result.passed and result.status == "timeout"
    assert elapsed < 5, elapsed


def test_busy_loop_hits_the_cpu_limit():
    result = run("while True:\n    pass\n", limits=Limits(wall_s=10.0, cpu_s=1))
    assert not result.passed
    assert result.status in ("signal 24", "signal 9"), result.status  # SIGXCPU / SIGKILL
    assert result.seconds < 5


def test_memory_hog_fails():
    result = run("x = bytearray(1 << 30)\n", limits=Limits(wall_s=5.0, memory_bytes=256 << 20))
    assert not result.passed and result.status == "exception: MemoryError"
    assert run("x = bytearray(16 << 20)\n", limits=Limits(memory_bytes=256 << 20)).passed


def test_fork_bomb_fails_and_leaves_no_processes():
    before = _procs()
    result = run(FORK_BOMB, limits=Limits(wall_s=3.0, nproc=16))
    assert not result.passed, result.status
    deadline = time.monotonic() + 3
    while _strays(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _strays(before)


@pytest.mark.skipif("pidns" not in PROTECTIONS, reason="no PID namespace on this platform")
def test_detached_children_die_with_the_sample():
    code = ("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n"
            "        os.setsid()\n        time.sleep(60)\n        os._exit(0)\n")
    before = _procs()
    result = run(code)
    assert result.passed, result.status  # the code itself ran fine
    time.sleep(0.1)
    assert not _strays(before)


def test_printing_megabytes_costs_nothing():
    code = ("import sys\nfor _ in range(20):\n    print('x' * (1 << 20))\n"
            "    sys.stderr.write('y' * (1 << 20))\n")
    t0 = time.perf_counter()
    result = run(code, ["assert True"])
    assert result.passed, result.status
    assert time.perf_counter() - t0 < 10


def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("WASURENAI_SECRET", "hunter2")
    assert run("import os\nassert 'WASURENAI_SECRET' not in os.environ\nassert not os.environ\n").passed
    assert not run("import os\nsecret = os.environ['WASURENAI_SECRET']\n").passed


@pytest.mark.parametrize("attack", [
    "os.remove(SENTINEL)",
    "open(SENTINEL, 'w').write('pwned')",
    "os.rename(SENTINEL, SENTINEL + '.moved')",
    "[os.remove(os.path.join(DIR, f)) for f in os.listdir(DIR)]; os.rmdir(DIR)",
    "open(os.path.join(DIR, 'new.txt'), 'w').write('x')",
])
@pytest.mark.parametrize("where", ["pytest_tmp_path", "world_writable_dir"])
def test_files_outside_the_temp_dir_are_unharmed(attack, where, tmp_path):
    if where == "pytest_tmp_path":
        folder = tmp_path
    else:  # reachable and writable by anyone: only the read-only file system protects it
        folder = Path(tempfile.mkdtemp(prefix="wasurenai-sentinel-", dir="/tmp"))
        folder.chmod(0o777)
    sentinel = folder / "sentinel.txt"
    sentinel.write_text("keep")
    sentinel.chmod(0o666 if where == "world_writable_dir" else 0o644)
    try:
        code = f"import os\nSENTINEL = {str(sentinel)!r}\nDIR = {str(folder)!r}\n"
        if where == "world_writable_dir":  # the code can see it: the attack itself is refused
            code += "assert open(SENTINEL).read() == 'keep'\n"
        result = run(code + attack + "\n")
        assert not result.passed, result.status
        if where == "world_writable_dir":
            assert result.status in ("exception: OSError", "exception: PermissionError"), result.status
        assert sentinel.read_text() == "keep"
        assert sorted(p.name for p in folder.iterdir()) == ["sentinel.txt"]
    finally:
        if where == "world_writable_dir":
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()


@pytest.mark.skipif("readonly-fs" not in PROTECTIONS, reason="no read-only mount namespace")
def test_a_world_writable_file_is_readable_but_not_writable():
    folder = Path(tempfile.mkdtemp(prefix="wasurenai-sentinel-", dir="/tmp"))
    try:
        folder.chmod(0o777)
        sentinel = folder / "sentinel.txt"
        sentinel.write_text("keep")
        sentinel.chmod(0o666)
        assert run(f"assert open({str(sentinel)!r}).read() == 'keep'\n").passed
        assert not run(f"open({str(sentinel)!r}, 'a').write('x')\n").passed
        assert sentinel.read_text() == "keep"
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_the_code_may_write_in_its_own_temp_dir_which_is_removed():
    code = "open('out.txt', 'w').write('x' * 1000)\nassert open('out.txt').read() == 'x' * 1000\n"
    with Sandbox(FAST, jobs=1) as box:
        assert box.run(code).passed
        left = [p.name for p in box._base.iterdir() if not p.name.startswith("zygote-")]
        assert left == []
        base = box._base
    assert not base.exists()


def test_file_size_is_capped():
    code = "open('big', 'wb').write(b'x' * (8 << 20))\n"
    assert not run(code, limits=Limits(fsize_bytes=1 << 20)).passed
    assert run(code, limits=Limits(fsize_bytes=16 << 20)).passed


@pytest.mark.skipif("caller-cwd-hidden" not in PROTECTIONS and os.getcwd().startswith("/tmp"),
                    reason="cwd under the sandbox's own temp base")
def test_the_callers_working_directory_is_hidden(tmp_path, monkeypatch):
    (tmp_path / "results.json").write_text("secret")
    (tmp_path / "results.json").chmod(0o644)
    tmp_path.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    with Sandbox(FAST, jobs=1) as box:
        result = box.run(f"print(open({str(tmp_path / 'results.json')!r}).read())\n")
    if "caller-cwd-hidden" not in result.protections:
        pytest.skip(f"not hidden here: {result.protections}")
    assert not result.passed


@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are dropped only when root")
def test_runs_as_nobody_when_root():
    assert run("import os\nassert os.getuid() != 0 and os.getgid() != 0\n").passed
    assert not run("import os\nos.listdir('/root')\n").passed


@pytest.mark.skipif("netns" not in PROTECTIONS, reason="no network namespace here")
def test_no_network():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        assert not run(code).passed


def test_stdlib_imports_work():
    code = "import collections, re, math, heapq, itertools, functools, json, fractions, decimal\n"
    assert run(code, ["assert math.gcd(4, 6) == 2"]).passed


def test_protections_are_recorded():
    assert "rlimits" in PROTECTIONS
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        # what this project's machines (root, full capabilities) are expected to give
        for name in ("netns", "pidns", "mountns", "readonly-fs", "setuid-nobody"):
            assert name in PROTECTIONS, PROTECTIONS


# --- the metrics --------------------------------------------------------------------------

def test_a_batch_loses_only_its_bad_samples():
    preds = [ADD, "while True:\n    pass\n", ADD, FORK_BOMB, "x = bytearray(1 << 31)\n", "def add(:"]
    refs = [repr(ADD_TESTS)] * len(preds)
    scores = code_exec_scores(preds, refs, limits=Limits(wall_s=2.0, cpu_s=1, nproc=16), jobs=2)
    assert scores == [1, 0, 1, 0, 0, 0]
    assert code_exec(preds[:4], refs[:4], limits=Limits(wall_s=2.0, cpu_s=1, nproc=16)) == 0.5


def test_reference_parsing():
    assert parse_tests("['assert f(1) == 2', 'assert f(2) == 3']", 0) == [
        "assert f(1) == 2", "assert f(2) == 3"]
    assert parse_tests("[]", 0) == []


@pytest.mark.parametrize("bad", ["assert f(1) == 2", "{'a': 1}", "[1, 2]", "['ok', 3]", "[oops", ""])
def test_a_reference_that_is_not_a_list_names_the_sample(bad):
    refs = [repr(ADD_TESTS), repr(ADD_TESTS), bad]
    with pytest.raises(WorkflowError, match=r"data/test/mbpp\.json: sample 2: the code_exec "
                                            r"reference is not a Python literal list"):
        code_exec_scores([ADD] * 3, refs, where="data/test/mbpp.json")


def test_pylint_check():
    clean = "def add(a, b):\n    return a + b\n"
    undefined = "def add(a, b):\n    return a + c\n"   # E0602 undefined-variable
    broken = "def add(a, b)\n    return a + b\n"      # E0001 syntax-error
    style_only = "import os\ndef f( x ):\n  return x\n"  # conventions/warnings only
    assert pylint_scores([clean, undefined, broken, style_only]) == [1, 0, 0, 1]
    assert pylint_check([clean, undefined]) == 0.5


def test_metric_suite_computes_both():
    assert "code_exec" not in NOT_EVALUATED and "pylint_check" not in NOT_EVALUATED
    suite = MetricSuite()
    refs = [repr(ADD_TESTS), repr(["assert add(2, 2) == 5"])]
    assert suite.score("code_exec", [ADD, ADD], refs) == 0.5
    assert suite.score("pylint_check", [ADD, "x = y\n"], refs) == 0.5
