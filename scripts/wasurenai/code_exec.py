"""llm-jp-eval's CG metrics (``code_exec``, ``pylint_check``), with generated code sandboxed.

Semantics (llm-jp-eval v1.3.x/v1.4 ``get_evaluation_result``, as that release describes its
CG metrics; its code_exec source was not available to diff against):

* ``code_exec``: the reference is a Python literal list of test statements
  (``ast.literal_eval``). A sample scores 1 only if the generated code and then every test
  statement run without an exception, else 0; the dataset score is the mean. Here the code
  runs once and the tests run after it in the same namespace, in order; the first exception
  ends the sample. ``__name__`` is ``"__sandbox__"`` (upstream ``exec``s inside its own
  module, so an ``if __name__ == "__main__":`` block does not run there either). Where we
  are stricter than upstream: ``SystemExit``/``KeyboardInterrupt`` fail the sample (upstream
  catches only ``Exception`` and would crash), and so do a timeout or a resource limit. An
  empty test list scores by the code alone. The interpreter is ``sys.executable -I -S``:
  the standard library only (no site-packages), as is all mbpp needs.
* ``pylint_check``: each prediction is written to a file and pylint runs over it; a sample
  scores 0 if pylint reports any message whose id starts with ``E`` (error) **or** ``F``
  (fatal: a file pylint cannot parse or analyse at all counts as a failure), else 1.
  pylint runs with ``--errors-only`` (only E and F messages are produced, which is all the
  score depends on; upstream's own pylintrc is not known to us, so a check it disables
  that we keep could differ) and with no config file from the project
  (``--rcfile`` is an empty file). pylint only parses the code, it never runs it, so it runs
  in a plain child process (empty environment, temporary directory, timeout, rlimits),
  one process for the whole batch.

The sandbox (unlike llm-jp-eval, which ``exec``s model output in its own process): a
forking "zygote" interpreter (``sys.executable -I -S``, empty environment) is started once
per worker; for every sample it forks a child that, where the platform allows:

* enters new mount, network, PID, IPC and UTS namespaces (as a non-root user, in a new user
  namespace first); the network namespace has no interfaces up, so no network;
* makes the whole file system read-only except the sample's fresh temporary directory
  (``mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)``), and covers the caller's working
  directory (the workflow's directory in a Snakemake job) with an empty read-only tmpfs
  (unless the interpreter lives under it);
* when run as root: drops to ``nobody``/``nogroup`` (setgroups/setgid/setuid; the sample
  directory is owned by that user). Directories on the interpreter's path that ``nobody``
  cannot traverse (e.g. a Python under ``/root``) are covered, in the mount namespace
  only, by an empty tmpfs with just the interpreter's directories bound back, so the code
  can import the standard library but sees nothing else of ``/root``;
* then forks the process that runs the code: PID 1 of the new PID namespace, so when it
  ends or is killed every process it forked dies with it (fork bombs leave nothing);
* that process sets rlimits (CPU seconds, address space, processes, file size, open files,
  no core dumps), ``PR_SET_NO_NEW_PRIVS``, stdin/stdout/stderr to ``/dev/null`` (printing
  megabytes costs nothing), an empty ``os.environ``, cwd = its temporary directory;
* the zygote enforces the wall-clock timeout (SIGKILL; without a PID namespace, the whole
  process group is killed) and removes the temporary directory afterwards.

Known limits: world-readable files outside the caller's working directory stay readable
(read-only, not hidden); ``RLIMIT_NPROC`` counts all processes of the sandbox user, so the
samples running concurrently share it; a pass is signalled by a per-sample random token on
a pipe (so ``os._exit(0)`` before the tests is a failure), which code that searches its own
interpreter's memory could forge. A sandbox failure before the code runs raises
:class:`WorkflowError` instead of scoring 0.

Which protections were active is recorded per sample (:attr:`SampleResult.protections`)
and can be probed with :func:`sandbox_protections`. A protection the platform refuses is
skipped, never fatal; rlimits, the temporary directory, the empty environment and the
timeout are always applied.
"""
from __future__ import annotations

import ast
import json
import marshal
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from .common import WorkflowError

# --- limits -----------------------------------------------------------------------------

WALL_S = 10.0           # wall-clock seconds per sample (code + all its tests)
CPU_S = 5               # CPU seconds per sample (RLIMIT_CPU)
MEMORY_BYTES = 1 << 30  # address space per process (RLIMIT_AS), 1 GiB
FSIZE_BYTES = 64 << 20  # largest file a sample may write (RLIMIT_FSIZE), 64 MiB
NPROC = 32              # processes of the sandbox user (RLIMIT_NPROC)
NOFILE = 64             # open files per process (RLIMIT_NOFILE)
SANDBOX_USER = "nobody"   # the user generated code runs as when we are root
SANDBOX_GROUP = "nogroup"
PYLINT_TIMEOUT_S = 60.0       # pylint over a batch: base wall-clock seconds ...
PYLINT_TIMEOUT_PER_FILE_S = 2.0  # ... plus this much per file
PYLINT_MEMORY_BYTES = 4 << 30


@dataclass(frozen=True)
class Limits:
    """Per-sample limits of the sandbox; the defaults are the module constants."""
    wall_s: float = WALL_S
    cpu_s: int = CPU_S
    memory_bytes: int = MEMORY_BYTES
    fsize_bytes: int = FSIZE_BYTES
    nproc: int = NPROC
    nofile: int = NOFILE


DEFAULT_LIMITS = Limits()


@dataclass
class SampleResult:
    """One sandboxed run: ``passed``; ``status`` is "passed", "exception: <Type>",
    "timeout", "signal <n>", "exit <n>" or "sandbox error: ..."; ``protections`` the
    protections that were active; ``seconds`` the run's wall time in the zygote."""
    passed: bool
    status: str
    protections: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- references -------------------------------------------------------------------------

def parse_tests(ref: str, index: int, where: str | os.PathLike = "") -> list[str]:
    """The reference of mbpp sample ``index``: a Python literal list of test statements."""
    prefix = f"{where}: " if where else ""
    try:
        tests = ast.literal_eval(ref)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise WorkflowError(
            f"{prefix}sample {index}: the code_exec reference is not a Python literal list of "
            f"test statements ({type(err).__name__}: {err}): {str(ref)[:200]!r}"
        ) from None
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise WorkflowError(
            f"{prefix}sample {index}: the code_exec reference is not a Python literal list of "
            f"test statements (a list of str; got {type(tests).__name__}): {str(ref)[:200]!r}"
        )
    return tests


# --- the zygote: runs as `python -I -S -c ZYGOTE`, empty environment ----------------------

ZYGOTE = r'''
import os, sys, marshal, resource, signal, select, time
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
except Exception:
    ctypes = libc = None

NEWNS, NEWNET, NEWPID, NEWIPC, NEWUTS, NEWUSER = 0x20000, 0x40000000, 0x20000000, 0x08000000, 0x04000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
AT_FDCWD, AT_RECURSIVE, ATTR_RDONLY, SYS_MOUNT_SETATTR = -100, 0x8000, 1, 442
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38


def recv():
    head = b""
    while len(head) < 4:
        chunk = os.read(0, 4 - len(head))
        if not chunk:
            return None
        head += chunk
    size = int.from_bytes(head, "little")
    data = bytearray()
    while len(data) < size:
        chunk = os.read(0, min(1 << 20, size - len(data)))
        if not chunk:
            return None
        data += chunk
    return marshal.loads(bytes(data))


def send(obj):
    data = marshal.dumps(obj)
    data = len(data).to_bytes(4, "little") + data
    while data:
        data = data[os.write(1, data):]


def c_call(name, *args):
    if libc is None:
        return False
    return getattr(libc, name)(*args) == 0


def mount(src, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)
    return c_call("mount", enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def set_readonly(path, clear=False):
    class Attr(ctypes.Structure):
        _fields_ = [("set", ctypes.c_uint64), ("clr", ctypes.c_uint64),
                    ("prop", ctypes.c_uint64), ("userns", ctypes.c_uint64)]
    attr = Attr(0, ATTR_RDONLY, 0, 0) if clear else Attr(ATTR_RDONLY, 0, 0, 0)
    return libc.syscall(SYS_MOUNT_SETATTR, ctypes.c_int(AT_FDCWD), os.fsencode(path),
                        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr))) == 0


def blocked_dirs(paths):
    """{directory that `others` cannot traverse: its children on the way to `paths`}"""
    blocked = {}
    for path in paths:
        parts = [p for p in path.split("/") if p]
        cur = "/"
        for name in parts:
            nxt = os.path.join(cur, name)
            try:
                if not os.stat(cur).st_mode & 0o001:
                    blocked.setdefault(cur, set()).add(nxt)
            except OSError:
                break
            cur = nxt
    return blocked


def expose(paths):
    """In our mount namespace: cover every directory that `others` cannot traverse on the
    way to `paths` by a tmpfs holding only the needed children, bound back."""
    blocked = blocked_dirs(paths)
    for cur in sorted(blocked, key=len):
        fds = {child: os.open(child, os.O_PATH) for child in blocked[cur] if os.path.exists(child)}
        try:
            if not mount("tmpfs", cur, "tmpfs", MS_NOSUID | MS_NODEV, "mode=711,size=64k"):
                return False
            for child, fd in fds.items():
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.mkdir(child, 0o711)
                else:
                    os.close(os.open(child, os.O_CREAT | os.O_WRONLY, 0o600))
                if not mount(f"/proc/self/fd/{fd}", child, None, MS_BIND | MS_REC):
                    return False
        finally:
            for fd in fds.values():
                os.close(fd)
    return True


def write_file(path, text):
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def sandbox_setup(workdir, cfg):
    """In the forked child, still privileged: namespaces and mounts. Returns protections."""
    prot = []
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    if libc is None:
        return prot
    if not root:
        if c_call("unshare", NEWUSER):
            prot.append("userns")
            write_file("/proc/self/setgroups", "deny")
            write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            write_file("/proc/self/gid_map", f"{gid} {gid} 1")
        else:
            return prot
    for flag, name in ((NEWNET, "netns"), (NEWIPC, "ipcns"), (NEWUTS, "utsns"), (NEWPID, "pidns")):
        if c_call("unshare", flag):
            prot.append(name)
    if c_call("unshare", NEWNS) and mount(None, "/", None, MS_REC | MS_PRIVATE):
        prot.append("mountns")
        if cfg["hide"] and all(mount("tmpfs", h, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                                     "mode=0,size=4k") for h in cfg["hide"]):
            prot.append("caller-cwd-hidden")
        if root and cfg["uid"] is not None and cfg["blocked"] and expose(cfg["expose"] + [workdir]):
            prot.append("stdlib-exposed")
        if (mount(workdir, workdir, None, MS_BIND) and set_readonly("/")
                and set_readonly(workdir, clear=True)):
            prot.append("readonly-fs")
    return prot


def drop_privileges(cfg, prot):
    if os.geteuid() == 0 and cfg["uid"] is not None and (
            "stdlib-exposed" in prot or not cfg["blocked"]):
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
        prot.append("setuid-" + cfg["user"])
    elif "userns" in prot and libc is not None:
        # drop every capability we hold in our user namespace (it could undo the mounts)
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
        data = (ctypes.c_uint32 * 6)()
        if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) == 0:
            prot.append("no-capabilities")
    if c_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        prot.append("no-new-privs")


def set_limits(task):
    lim = [(resource.RLIMIT_CPU, task["cpu_s"]), (resource.RLIMIT_AS, task["memory_bytes"]),
           (resource.RLIMIT_FSIZE, task["fsize_bytes"]), (resource.RLIMIT_NOFILE, task["nofile"]),
           (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, task["nproc"])]
    for which, value in lim:
        resource.setrlimit(which, (value, value))


def run_code(task, nonce, wfd):
    """The process that runs generated code (PID 1 of its namespace where available)."""
    status, me = b"E?", os.getpid()
    try:
        ns = {"__name__": "__sandbox__", "__builtins__": __builtins__}
        exec(compile(task["code"], "<generated>", "exec"), ns)
        for i, test in enumerate(task["tests"]):
            exec(compile(test, f"<test {i}>", "exec"), ns)
        status = nonce
    except BaseException as err:  # noqa: B902 - anything the code raises fails it
        try:
            status = b"E" + type(err).__name__.encode()[:60]
        except BaseException:
            status = b"E?"
    if os.getpid() != me:  # a process the code forked: only the runner's outcome counts
        os._exit(1)
    try:
        os.write(wfd, status)
    finally:
        os._exit(0 if status == nonce else 1)


def child(task, workdir, cfg, wfd, nonce):
    """Forked from the zygote: sandbox the namespaces, then fork the runner."""
    os.setpgid(0, 0)
    prot = sandbox_setup(workdir, cfg)
    os.write(wfd, ("P" + ",".join(prot) + "\n").encode())
    pid = os.fork()
    if pid == 0:
        try:
            if libc is not None:
                libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            os.chdir(workdir)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, wfd)
            os.closerange(wfd + 1, 1 << 16)
            drop_privileges(cfg, prot)
            os.environ.clear()
            set_limits(task)
            prot.append("rlimits")
            os.write(wfd, ("P" + ",".join(prot) + "\n").encode())
        except BaseException as err:
            os.write(wfd, ("X" + repr(err)[:200] + "\n").encode())
            os._exit(3)
        run_code(task, nonce, wfd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def wait_child(pid, timeout):
    """Wait up to `timeout` seconds; True if the child exited by itself."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(max(0, int(timeout * 1000))))
        finally:
            os.close(pidfd)
    end, delay = time.monotonic() + timeout, 0.0005
    while time.monotonic() < end:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    return False


def remove(path):
    import shutil, stat
    def onerror(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


def run_task(task, cfg, n):
    start = time.perf_counter()
    workdir = os.path.join(cfg["base"], f"s{os.getpid()}-{n}")  # zygotes share the base
    os.mkdir(workdir, 0o700)
    if os.geteuid() == 0 and cfg["uid"] is not None:
        os.chown(workdir, cfg["uid"], cfg["gid"])
    nonce = b"OK" + os.urandom(16).hex().encode()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            child(task, workdir, cfg, wfd, nonce)
        finally:
            os._exit(4)
    os.close(wfd)
    timed_out = not wait_child(pid, task["wall_s"])
    if timed_out:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    for _ in range(100):  # without a PID namespace: whatever is left of its process group
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.001)
    os.set_blocking(rfd, False)
    data = b""
    try:
        while len(data) < 65536:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    os.close(rfd)
    remove(workdir)
    prot, error, tail = [], None, data
    while tail[:1] in (b"P", b"X"):  # protection reports and setup errors, then the result
        line, _, tail = tail.partition(b"\n")
        if line[:1] == b"P":
            prot = [p for p in line[1:].decode().split(",") if p]
        else:
            error = line[1:].decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if tail == nonce and code == 0:
        result = "passed"
    elif timed_out:
        result = "timeout"
    elif error is not None:
        result = "sandbox error: " + error
    elif tail[:1] == b"E":
        result = "exception: " + tail[1:].decode(errors="replace")
    elif code >= 128:
        result = f"signal {code - 128}"
    else:
        result = f"exit {code}"
    return (result == "passed", result, prot, time.perf_counter() - start)


def main():
    cfg = recv()
    cfg["expose"] = sorted({os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)})
    cfg["blocked"] = bool(blocked_dirs(cfg["expose"] + [cfg["base"]]))
    inside = lambda p, d: p == d or p.startswith(d.rstrip("/") + "/")
    cfg["hide"] = [h for h in cfg["hide"] if h != "/" and os.path.isdir(h) and not any(
        inside(p, h) or inside(h, p) for p in cfg["expose"] + [cfg["base"]])]
    n = 0
    while True:
        task = recv()
        if task is None:
            return
        n += 1
        try:
            send(run_task(task, cfg, n))
        except Exception as err:
            send((False, "sandbox error: " + repr(err)[:300], [], 0.0))


main()
'''


def _sandbox_ids() -> tuple[int | None, int | None]:
    if os.geteuid() != 0:
        return None, None
    import grp
    import pwd

    try:
        uid = pwd.getpwnam(SANDBOX_USER).pw_uid
    except KeyError:
        uid = 65534
    try:
        gid = grp.getgrnam(SANDBOX_GROUP).gr_gid
    except KeyError:
        gid = 65534
    return uid, gid


class _Zygote:
    def __init__(self, base: Path, cfg: dict):
        self.log = open(base / f"zygote-{id(self)}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", ZYGOTE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env={}, cwd=base, close_fds=True,
        )
        self._send(cfg)

    def _send(self, obj) -> None:
        data = marshal.dumps(obj)
        self.proc.stdin.write(len(data).to_bytes(4, "little") + data)
        self.proc.stdin.flush()

    def _recv(self):
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise RuntimeError("the sandbox zygote died")
        return marshal.loads(self.proc.stdout.read(int.from_bytes(head, "little")))

    def run(self, task: dict) -> SampleResult:
        try:
            self._send(task)
            # the zygote enforces the wall time; this only guards against a hung zygote
            ready, _, _ = select.select([self.proc.stdout], [], [], task["wall_s"] + 60)
            if not ready:
                self.proc.kill()
                raise RuntimeError("the sandbox zygote did not answer")
            passed, status, prot, seconds = self._recv()
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            self.log.flush()
            log = Path(self.log.name).read_text(errors="replace")[-2000:]
            raise WorkflowError(f"code_exec: the sandbox failed ({err}); its log: {log}") from err
        return SampleResult(bool(passed), status, list(prot), float(seconds))

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


class Sandbox:
    """Runs generated code with its tests, each sample in its own sandboxed process.

    ``jobs`` zygotes (default: the number of CPUs, at most 4) run samples concurrently.
    Use as a context manager; :meth:`run` and :meth:`run_many` are thread-safe.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, jobs: int | None = None):
        self.limits = limits
        self.jobs = max(1, jobs or min(4, os.cpu_count() or 1))
        self._base: Path | None = None
        self._idle: queue.Queue = queue.Queue()
        self._all: list[_Zygote] = []
        self._lock = threading.Lock()
        self._cfg: dict = {}

    def __enter__(self) -> Sandbox:
        self._base = Path(tempfile.mkdtemp(prefix="wasurenai-sandbox-"))
        self._base.chmod(0o711)  # the sandbox user must traverse it to reach its directory
        uid, gid = _sandbox_ids()
        self._cfg = {"base": str(self._base), "uid": uid, "gid": gid, "user": SANDBOX_USER,
                     "hide": [os.path.realpath(os.getcwd())]}
        return self

    def __exit__(self, *exc) -> None:
        for z in self._all:
            z.close()
        self._all.clear()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def _zygote(self) -> _Zygote:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                z = _Zygote(self._base, self._cfg)
                self._all.append(z)
            return z

    def run(self, code: str, tests: Sequence[str] = ()) -> SampleResult:
        if self._base is None:
            raise RuntimeError("use Sandbox as a context manager")
        task = {"code": str(code), "tests": [str(t) for t in tests], **asdict(self.limits)}
        task["wall_s"] = float(task["wall_s"])
        z = self._zygote()
        try:
            return z.run(task)
        finally:
            self._idle.put(z)

    def run_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[SampleResult]:
        if len(items) <= 1 or self.jobs == 1:
            return [self.run(c, t) for c, t in items]
        with ThreadPoolExecutor(min(self.jobs, len(items))) as pool:
            return list(pool.map(lambda item: self.run(*item), items))


# --- the metrics ------------------------------------------------------------------------

def code_exec_results(preds: Sequence[str], refs: Sequence[str], where: str = "",
                      limits: Limits = DEFAULT_LIMITS, jobs: int | None = None) -> list[SampleResult]:
    """Per sample, the sandboxed run of the prediction and its reference's tests."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    tests = [parse_tests(r, i, where) for i, r in enumerate(refs)]  # all checked before any run
    with Sandbox(limits, jobs) as box:
        results = box.run_many(list(zip(preds, tests)))
    broken = [(i, r.status) for i, r in enumerate(results) if r.status.startswith("sandbox error")]
    if broken:  # the sandbox itself failed before the code ran: never a silent 0
        prefix = f"{where}: " if where else ""
        raise WorkflowError(f"{prefix}code_exec: the sandbox failed on sample(s) {broken[:5]}")
    return results


def code_exec_scores(preds: Sequence[str], refs: Sequence[str], where: str = "",
                     limits: Limits = DEFAULT_LIMITS, jobs: int | None = None) -> list[int]:
    """llm-jp-eval's code_exec per sample: 1 if the code and all its tests ran, else 0."""
    return [int(r.passed) for r in code_exec_results(preds, refs, where, limits, jobs)]


def code_exec(preds: Sequence[str], refs: Sequence[str], where: str = "",
              limits: Limits = DEFAULT_LIMITS, jobs: int | None = None) -> float:
    """llm-jp-eval's code_exec: the mean of :func:`code_exec_scores`."""
    if not preds:
        raise ValueError("no predictions to score")
    scores = code_exec_scores(preds, refs, where, limits, jobs)
    return sum(scores) / len(scores)


def sandbox_protections(limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The protections the sandbox gets on this platform (one trivial sample is run)."""
    with Sandbox(limits, jobs=1) as box:
        return box.run("pass").protections


# --- pylint -----------------------------------------------------------------------------

PYLINT_BOOT = r'''
import resource, sys
limit = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
from pylint import run_pylint
sys.argv[0] = "pylint"
run_pylint()
'''


def pylint_messages(preds: Sequence[str], timeout_s: float | None = None) -> list[list[dict]]:
    """pylint's E and F messages for each prediction (one pylint process for the batch)."""
    if not preds:
        return []
    with tempfile.TemporaryDirectory(prefix="wasurenai-pylint-") as tmp:
        tmp_path = Path(tmp)
        files = []
        for i, pred in enumerate(preds):
            path = tmp_path / f"sample_{i:06d}.py"
            path.write_text(str(pred), encoding="utf-8", errors="surrogatepass")
            files.append(path)
        rc = tmp_path / "pylintrc"
        rc.write_text("")
        out = tmp_path / "messages.json"
        timeout = timeout_s if timeout_s is not None else (
            PYLINT_TIMEOUT_S + PYLINT_TIMEOUT_PER_FILE_S * len(files))
        cmd = [sys.executable, "-I", "-c", PYLINT_BOOT, str(PYLINT_MEMORY_BYTES),
               f"--rcfile={rc}", "--errors-only", "--persistent=n", "--jobs=1",
               "--output-format=json", f"--output={out}", "--score=n", *map(str, files)]
        env = {"PYLINTHOME": str(tmp_path / "home"), "HOME": str(tmp_path),
               "PYTHONIOENCODING": "utf-8"}
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=timeout, process_group=0)
        except subprocess.TimeoutExpired:
            raise WorkflowError(f"pylint_check: pylint ran past {timeout:.0f} s on "
                                f"{len(files)} predictions") from None
        # pylint's exit status is a bit mask of the message kinds; 32 = usage error
        if proc.returncode & 32 or not out.is_file():
            raise WorkflowError(f"pylint_check: pylint failed (exit {proc.returncode}): "
                                f"{proc.stderr.decode(errors='replace')[-2000:]}")
        messages: list[list[dict]] = [[] for _ in files]
        index = {p.name: i for i, p in enumerate(files)}
        for msg in json.loads(out.read_text() or "[]"):
            i = index.get(Path(msg.get("path", "")).name)
            if i is not None:
                messages[i].append(msg)
        return messages


def _fails(msg: dict) -> bool:
    return str(msg.get("message-id", "")).startswith(("E", "F"))


def pylint_scores(preds: Sequence[str], timeout_s: float | None = None) -> list[int]:
    """llm-jp-eval's pylint_check per sample: 0 if pylint reports an E or F message, else 1."""
    return [0 if any(_fails(m) for m in msgs) else 1 for msgs in pylint_messages(preds, timeout_s)]


def pylint_check(preds: Sequence[str], timeout_s: float | None = None) -> float:
    """llm-jp-eval's pylint_check: the mean of :func:`pylint_scores`."""
    if not preds:
        raise ValueError("no predictions to score")
    scores = pylint_scores(preds, timeout_s)
    return sum(scores) / len(scores)
