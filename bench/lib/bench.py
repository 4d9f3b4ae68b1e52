#!/usr/bin/env python3
"""csshim against what it replaces, side by side in one run: bench/run.sh [--quick] (see bench/run.sh for usage).

Every row times csshim and its reference interleaved run by run (the order rotates each round, so drift on a
shared machine and the "second of a pair runs while the first's threads exit" effect hit both alike), after one
untimed warm-up round, and reports medians with the min-max of each side.

Rows
  restore      csshim `create` of a bundle whose config.json carries dev.gvisor.tar.rootfs.upper=A, against GNU
               `tar --xattrs -xpf A` into an empty directory on tmpfs, both reading the same archive A from tmpfs
               (A is csshim's own snapshot of the tree, so both restore the very same bytes). The restore part is
               isolated as create-with-archive minus create-without-archive of the same bundle, paired per round:
               that is exactly what an archive adds to a user's create (open and check the archive, extract it,
               the pinned-digest pass if any), and the runtime's own create, the tmpfs and overlay mounts and the
               config rewrite cancel out. The runtime is runc; "create" returns once runc has the container in
               "created" state, so nothing of the container's start is in it. Two rows per tree: "copy" is the
               copying restore (--shim-restore copy: extracted into the container's tmpfs upper); "first start" is
               the layer cache's build of the entry (extracted into the cache on disk, then mounted), the layer
               cache emptied before each round, against the copy (info: the build writes to disk, the copy to RAM; what
               a start pays is in the run rows' first-start targets). Trees: bench/tar's ~1 GiB tree (the developers'
               figure) and the mixed tree of 4 x 64 MiB + 8,000 files of 1-32 KiB.
  snapshot     `csshim tar rootfs-upper --file F ID` of a container whose upper holds the tree (written into it
               through its overlay, as the container would), against `tar --xattrs -cf G -C <that upper> .`; both
               write to tmpfs, and both outputs are removed before each round.
  run          foreground `csshim run` of a busybox `true` bundle, with the 100 MiB snapshot annotation (1 x 64 MiB +
               2,200 files of 1-32 KiB) and without, against a plain native `run` of the same bundle (no archive),
               on runc and on runsc 2022 (--network=none). Wall time from spawn to exit, the whole life of the
               container: create, start, the process, delete and, for csshim, restore, unstaging and the state
               query after the run. With the snapshot, three ways: "later starts" (the layer cache holds the
               snapshot's entry, built by the warm-up round: a start mounts it), "first start" (the entry dropped,
               untimed, before each round: the start builds it), against the copying restore of the same run,
               which is what every start cost before the cache; and "copy restore" (--shim-restore copy).
  run, 1 GiB   later starts from bench/tar's 1 GiB tree (runc): a start mounts the entry, so the size must not show.
  run, overlay rootfs
               the same, with the bundle's root.path an overlay mount (lower = the busybox rootfs, upper and work on
               disk, a fresh empty upper before every round), as Docker, containerd and podman hand over a rootfs
               (in-place staging: csshim mounts that overlay again with the cache entry as its topmost lower, or,
               copying, restores into its upper through the mounted rootfs); later starts, first starts (from a
               copy of the archive: the later starts' last container layer still references the entry of the archive
               itself) and the copy restore as in the run rows. Reference: native run of the same overlay rootfs
               without archive. The info row under the copy row sets what the archive adds to the run
               (paired per round) against GNU tar -xf of the same archive into a fresh overlay of the same kind: the
               cost of writing those files through overlayfs to disk.
  run via Docker
               `docker run --rm` of busybox `true` through a private Docker 26 daemon (.tools/docker26, fetched by
               test/tools/fetch-clients.sh; left out without it or with --no-docker) whose csshim runtime is
               registered by `csshim install --docker-config`, with the snapshot annotation (100 MiB and 1 GiB),
               against `docker run --rm --runtime=runc` of the same image without it. The rootfs is Docker's overlay2
               layer, so csshim stacks the entry in place; the warm-up round builds it.
  RAM          what 4 live containers (`sleep`) from one 100 MiB snapshot add to Shmem (tmpfs pages, which cannot be
               reclaimed) in tmpfs staging: the layer cache (one entry on disk, shared) against the copying restore.
  disk         du of the engine's upper after an in-place create with the 100 MiB snapshot, before the container
               writes: the layer cache against the copying restore (which writes the archive into that upper).
  create / start / delete
               (info) the three calls containerd and podman make for a detached container, each timed alone.
  state        forwarded `csshim state ID` of a live container created through csshim, against the runtime's own
               `state ID`; the figure is the added milliseconds. "floor" (info) does the same with /bin/true as
               the runtime: csshim's start-up, argument handling and execve with no runtime noise.
  peak RSS     csshim's own peak RSS over the restores and snapshots of every archive size. ru_maxrss of a waited
               process covers it and the children it waited for, so in the run/create rows the figure is
               max(csshim, runtime); the restore RSS is therefore taken from an extra untimed create with /bin/true
               as the runtime (csshim alone), and `tar rootfs-upper` starts no runtime.

Setting: bundles and the busybox rootfs are on the work directory's filesystem (disk), csshim's layer cache on a
journaled ext4 image in it (see Bench.cache_fs), the trees, archives and tar targets on a tmpfs, csshim's state dir
and the runtimes' --root on a second tmpfs (as /run is on a normal host).
csshim reads a config file of the bench's own (CSSHIM_CONFIG; an installed csshim reads one on every call too),
so the host's /etc/csshim/config.json cannot change the figures.

Exit status: 0 when every target is met, 1 when one is missed, 2 when the bench itself failed or was interrupted.
Every container, mount and temp dir the bench made is removed on exit, also after SIGINT, SIGTERM or SIGHUP.
"""
import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from docker import DockerDaemon, DockerError, IMAGE

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOCKER26 = os.path.join(REPO, ".tools", "docker26")
TREE = os.path.join(HERE, "tree.py")
MIB = 1 << 20
TAR = shutil.which("tar") or "/bin/tar"


def gnu_tar_x(archive, dst):
    """GNU tar's restore of `archive` into `dst`, xattrs included: the reference of every restore row."""
    return [TAR, "--xattrs", "--xattrs-include=*", "-xpf", archive, "-C", dst]


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

class Proc:
    """Runs commands with stdin /dev/null and stdout+stderr to a log file, timed and with their peak RSS.

    The spawn goes through timed.c (compiled into the work dir) when a C compiler is there: the kernel counts the
    memory of the process that exec'd a program in that program's ru_maxrss, so a command spawned straight from
    this Python process would report at least Python's own ~15 MiB. Without a compiler, Python spawns them itself
    and the RSS column has that floor (the header says so)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.log = os.path.join(workdir, "last.log")
        self.result = os.path.join(workdir, "last.result")
        self.child = None   # the pid being waited for, so an interrupt can end it first
        self.timer = None
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc:
            exe = os.path.join(workdir, "timed")
            r = subprocess.run([cc, "-O2", "-o", exe, os.path.join(HERE, "timed.c")], capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError("cannot compile timed.c: " + r.stderr)
            self.timer = exe

    def run(self, argv, check=True, what=None):
        """Returns (wall ns, peak RSS KiB, exit status); raises BenchError on failure when check."""
        if self.timer:
            pid = os.posix_spawn(self.timer, [self.timer, self.result, self.log, *argv], os.environ)
            self.child = pid
            _, status, _ = os.wait4(pid, 0)
            self.child = None
            if os.waitstatus_to_exitcode(status) != 0:
                raise BenchError("the timer failed on %s" % " ".join(argv))
            with open(self.result) as f:
                ns, rss, code = (int(x) for x in f.read().split())
        else:
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                           (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
                t0 = time.perf_counter_ns()
                pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
                self.child = pid
                _, status, ru = os.wait4(pid, 0)
                ns, rss, code = time.perf_counter_ns() - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status)
                self.child = None
            finally:
                os.close(fd)
        if check and code != 0:
            with open(self.log, errors="replace") as f:
                text = f.read()[-3000:]
            raise BenchError("%s failed (exit %d): %s\n%s" % (what or os.path.basename(argv[0]), code, " ".join(argv), text))
        return ns, rss, code

    def quiet(self, argv):
        """Untimed, failures ignored (cleanup, best-effort deletes)."""
        return self.run(argv, check=False)[2]

    def end_child(self):
        pid = self.child
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def sh(*argv):
    """Untimed commands that must work (mount, runc spec...)."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


def mounts_under(d):
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split(" ")[4].encode().decode("unicode_escape")
            if p == d or p.startswith(d + "/"):
                points.append(p)
    return sorted(set(points), key=len, reverse=True)


def shmem_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1])
    raise BenchError("no Shmem line in /proc/meminfo")


def added_ms(cs, ref):
    """What csshim adds, in ms: the difference of the medians of two lists of ns."""
    return (median(cs) - median(ref)) / 1e6


def count_nodes(d):
    return int(sh("sh", "-c", 'find "$1" | wc -l', "-", d))


# ---------------------------------------------------------------- statistics and the table

def median(xs):
    return statistics.median(xs)


class Row:
    """kind: speed (reference time / csshim time >= target), time (csshim / reference <= target),
    added (csshim - reference ms <= target), rss (csshim peak RSS MiB < target), mib (any other MiB figure of
    csshim's, RAM or disk, <= target), info (no target)."""

    def __init__(self, label, kind, target, cs, ref, ref_name, rss_cs=None, rss_ref=None, note=""):
        self.label, self.kind, self.target = label, kind, target
        self.cs, self.ref, self.ref_name = cs, ref, ref_name
        self.rss_cs, self.rss_ref, self.note = rss_cs, rss_ref, note

    def value(self):
        c, r = median(self.cs), median(self.ref)
        if self.kind == "speed":
            return r / c if c > 0 else float("inf")
        if self.kind in ("time", "info"):
            return c / r
        if self.kind == "added":
            return (c - r) / 1e6
        if self.kind in ("rss", "mib"):
            return c
        raise ValueError(self.kind)

    def met(self):
        """True/False against the target, None for info rows."""
        if self.kind == "info" or self.target is None:
            return None
        v = self.value()
        return v >= self.target if self.kind == "speed" else v < self.target if self.kind == "rss" else v <= self.target

    def cells(self):
        if self.kind in ("rss", "mib"):
            c = "%.1f MiB" % median(self.cs)
            r = "%.1f MiB" % median(self.ref) if self.ref else "-"
        else:
            c = fmt_ms(self.cs)
            r = fmt_ms(self.ref)
        v = self.value()
        ratio = {"speed": "%.2fx speed" % v, "time": "%.2fx time" % v, "info": "%.2fx time" % v,
                 "added": "%+.2f ms" % v, "rss": "%.1f MiB" % v, "mib": "%.1f MiB" % v}[self.kind]
        target = {"speed": ">= %.2fx" % (self.target or 0), "time": "<= %.2fx" % (self.target or 0),
                  "added": "<= %+.2f ms" % (self.target or 0), "rss": "< %d MiB" % (self.target or 0),
                  "mib": "<= %d MiB" % (self.target or 0),
                  "info": "-"}[self.kind]
        met = self.met()
        result = "-" if met is None else ("pass" if met else "MISS")
        rss = "%s / %s" % (fmt_rss(self.rss_cs), fmt_rss(self.rss_ref))
        return [self.label, c, self.ref_name, r, ratio, target, result, rss]


def fmt_ms(ns_list):
    ms = [x / 1e6 for x in ns_list]
    m, lo, hi = median(ms), min(ms), max(ms)
    p = 0 if m >= 1000 else (1 if m >= 10 else 2)
    return "%.*f (%.*f-%.*f)" % (p, m, p, lo, p, hi)


def fmt_rss(kib):
    return "-" if kib is None else "%.1f" % (kib / 1024)


def print_table(rows, header_note):
    head = ["row", "csshim ms (min-max)", "reference", "ref ms (min-max)", "ratio", "target", "result",
            "peak RSS MiB cs / ref"]
    table = [head] + [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    print()
    print(header_note)
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i in (0, 2, 6) else cell.rjust(widths[i]) if i else cell
                        for i, cell in enumerate(line)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("speed = reference time / csshim time; time = csshim time / reference time; medians of interleaved rounds.")


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.csshim = args.csshim
        self.runtimes = {}     # name -> (path, global flags); runsc 2022 needs --network=none on new kernels
        for spec in args.runtime:
            name, _, path = spec.partition("=")
            if not os.access(path, os.X_OK):
                raise BenchError("runtime %s: %s is not an executable (install it, or leave it out with --runtime)" % (name, path))
            self.runtimes[name] = (path, ["--network=none"] if "runsc" in os.path.basename(path) else [])
        self.containers = {}   # id -> (via, runtime name); via "cs" or "native"
        self.ids = 0
        self.rows = []
        self.details = []
        self.work = tempfile.mkdtemp(prefix="csshim-bench.", dir=args.tmpdir)
        self.proc = Proc(self.work)
        self.docker = None     # the private dockerd of the Docker rows, started by their first row

    # ------------------------------------------------------------ commands

    def cs(self, rt, *args, runtime_path=None, restore=None):
        """csshim's argv; restore "copy" or "layer" chooses the restore mode (default: csshim's, the layer cache)."""
        path, globals_ = self.runtimes[rt] if runtime_path is None else (runtime_path, [])
        mode = ["--shim-restore", restore] if restore else []
        return [self.csshim, "--shim-runtime", path, *mode, *globals_, "--root", self.root(rt), *args]

    def drop_cache(self, archive=None):
        """Untimed: `csshim gc` removes the layer cache's entries no container references, so the next create with
        an archive builds its entry again (a first start). An entry left over (of `archive`, or of any archive when
        none is given) means a container of an earlier round still references it: a leak, and the bench fails."""
        self.proc.run(self.cs("runc", "gc"), what="csshim gc")
        if not os.path.isdir(self.cache_dir):
            return
        left = []
        for e in os.listdir(self.cache_dir):
            if e.endswith(".lock"):
                continue
            try:
                with open(os.path.join(self.cache_dir, e, "entry.json")) as f:
                    built_from = json.load(f).get("archive")
            except (OSError, ValueError):
                built_from = None
            if archive is None or built_from == archive:
                left.append(e)
        if left:
            with open(self.proc.log, errors="replace") as f:
                said = f.read()[-2000:]
            refs = [os.path.join(dp, f) for dp, _, fs in os.walk(self.cache_dir) if dp.endswith("/refs") for f in fs]
            raise BenchError("csshim gc left entries in %s: %s (references %s); it said:\n%s"
                             % (self.cache_dir, left, refs, said))

    def native(self, rt, *args):
        path, globals_ = self.runtimes[rt]
        return [path, *globals_, "--root", self.root(rt), *args]

    def root(self, rt):
        return os.path.join(self.run_fs, "root-" + rt)

    def new_id(self, tag):
        self.ids += 1
        return "csb%d-%s-%d" % (os.getpid(), tag, self.ids)

    def timed(self, argv, what):
        ns, rss, _ = self.proc.run(argv, what=what)
        return ns, rss

    def delete(self, rt, cid):
        """Untimed: the container and whatever csshim staged for it go."""
        via, _ = self.containers.pop(cid, ("cs", rt))
        if via == "cs":
            self.proc.quiet(self.cs(rt, "delete", "--force", cid))
        self.proc.quiet(self.native(rt, "delete", "--force", cid))

    def forget_if_gone(self, rt, cid):
        """After a foreground run: the container should be gone; a leftover is deleted (untimed)."""
        self.containers.pop(cid, None)
        if self.proc.quiet(self.native(rt, "state", cid)) == 0:
            self.proc.quiet(self.native(rt, "delete", "--force", cid))

    # ------------------------------------------------------------ setup

    def setup(self):
        w = self.work
        if self.args.extra_mounts:
            self.crowd_mount_table(self.args.extra_mounts)
        self.fs = os.path.join(w, "fs")
        self.run_fs = os.path.join(w, "run")
        for d, size in ((self.fs, "8g"), (self.run_fs, "256m")):
            os.mkdir(d)
            sh("mount", "-t", "tmpfs", "-o", "size=" + size, "csshim-bench", d)
        self.state_dir = os.path.join(self.run_fs, "state")
        self.cache_dir = os.path.join(self.cache_fs(), "layers")
        config = os.path.join(w, "csshim-config.json")
        with open(config, "w") as f:
            json.dump({"stateDir": self.state_dir, "cacheDir": self.cache_dir, "upperSize": "4g",
                       "allowRootfsTarAnnotation": True}, f)
        os.environ["CSSHIM_CONFIG"] = config
        os.environ.pop("CSSHIM_FAULT_POINT", None)

        self.rootfs = os.path.join(w, "rootfs")
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root"):
            os.makedirs(os.path.join(self.rootfs, d))
        shutil.copy2("/bin/busybox", os.path.join(self.rootfs, "bin", "busybox"))
        for c in ("sh", "true", "sleep"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", c))
        tmpl = os.path.join(w, "spec")
        os.mkdir(tmpl)
        subprocess.run([self.runtimes["runc"][0], "spec"], cwd=tmpl, check=True)
        with open(os.path.join(tmpl, "config.json")) as f:
            self.spec = json.load(f)

    def cache_fs(self):
        """The layer cache's filesystem: on disk, as its default /var/lib/csshim/layers is, and journaled, as a host's
        /var/lib is. Not the work dir's own filesystem: when that is ext4 without a journal (as on the VMs these
        figures come from), its inode allocator skips every inode freed in the last 60 s (6 min while its inode table
        block is dirty), so a build right after `csshim gc` removed thousands of files would scan past them
        (measured: 1.5 s against 0.15 s for the 100 MiB archive), which a journaled filesystem never does. A sparse
        16 GiB ext4 image with mkfs's defaults, on a loop device with direct I/O (no second page cache for the image
        file), in the work dir; unmounting it at exit frees the loop device."""
        image = os.path.join(self.work, "cache.img")
        mnt = os.path.join(self.work, "cache")
        os.mkdir(mnt)
        with open(image, "wb") as f:
            f.truncate(16 << 30)
        sh("mkfs.ext4", "-q", "-F", "-E", "nodiscard", image)
        sh("mount", "-o", "loop", image, mnt)
        loop = sh("findmnt", "-n", "-o", "SOURCE", mnt).strip()
        sh("losetup", "--direct-io=on", loop)
        return mnt

    def crowd_mount_table(self, n):
        """A busy host's mount table (Docker and Kubernetes nodes have thousands of lines): this process moves to a
        private mount namespace, where n tmpfs mounts are added; csshim, the runtimes and .NET's start-up all read
        /proc/self/mountinfo, so what that costs shows in every row. Nothing of it is visible outside, and it ends
        with this process."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            raise BenchError("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
        sh("mount", "--make-rprivate", "/")
        base = os.path.join(self.work, "crowd")
        for i in range(n):
            d = os.path.join(base, str(i))
            os.makedirs(d)
            sh("mount", "-t", "tmpfs", "-o", "size=64k", "crowd", d)

    def bundle(self, name, args=("true",), archive=None, root=None):
        d = os.path.join(self.work, "bundles", name)
        os.makedirs(d, exist_ok=True)
        c = json.loads(json.dumps(self.spec))
        c["process"]["args"] = list(args)
        c["process"]["terminal"] = False
        c["root"] = {"path": root or self.rootfs, "readonly": False}
        if archive:
            c.setdefault("annotations", {})["dev.gvisor.tar.rootfs.upper"] = archive
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        return d

    def staging_of(self, bundle):
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f)["annotations"]["dev.csshim.staging"]

    # ------------------------------------------------------------ interleaving

    def rounds(self, n, cases, warmup=1):
        """cases: list of (name, fn) where fn() returns (ns, rss KiB) and does its own untimed setup and teardown.
        Round i runs them in an order rotated by i. Returns {name: ([ns], max rss)}."""
        res = {name: [] for name, _ in cases}
        rss = {name: 0 for name, _ in cases}
        for i in range(warmup + n):
            k = i % len(cases)
            for name, fn in cases[k:] + cases[:k]:
                ns, r = fn()
                if i >= warmup:
                    res[name].append(ns)
                    rss[name] = max(rss[name], r)
        return {name: (res[name], rss[name]) for name in res}

    def add(self, row, raw=None):
        self.rows.append(row)
        if raw:
            self.details.append((row.label, raw))

    # ------------------------------------------------------------ rows: state

    def bench_state(self, rt, n):
        cid = self.new_id("live")
        b = self.bundle("live-" + rt, args=("sleep", "600"))
        self.containers[cid] = ("cs", rt)
        self.timed(self.cs(rt, "create", "--bundle", b, cid), "csshim create (live)")
        self.timed(self.cs(rt, "start", cid), "csshim start (live)")
        state = sh(*self.native(rt, "state", cid))
        if '"running"' not in state:
            raise BenchError("%s: container %s not running: %s" % (rt, cid, state))
        r = self.rounds(n, [("cs", lambda: self.timed(self.cs(rt, "state", cid), "csshim state")),
                            ("ref", lambda: self.timed(self.native(rt, "state", cid), rt + " state"))], warmup=3)
        paired = [a - b for a, b in zip(r["cs"][0], r["ref"][0])]
        self.add(Row("state, forwarded (%s)" % rt, "added", 2.0, r["cs"][0], r["ref"][0], rt + " state",
                     r["cs"][1], r["ref"][1]),
                 {"median of paired differences ms": "%.2f" % (median(paired) / 1e6)})
        self.delete(rt, cid)

    def bench_floor(self, n):
        true = shutil.which("true")
        first = next(iter(self.runtimes))
        r = self.rounds(n, [("cs", lambda: self.timed(self.cs(first, "state", "x", runtime_path=true), "csshim state (true)")),
                            ("ref", lambda: self.timed([true, "state", "x"], "true"))], warmup=3)
        self.add(Row("state floor (/bin/true runtime, info)", "info", None, r["cs"][0], r["ref"][0], "true",
                     r["cs"][1], r["ref"][1]),
                 {"added ms": "%.2f" % added_ms(r["cs"][0], r["ref"][0])})

    # ------------------------------------------------------------ rows: run and phases

    def run_case(self, rt, via, bundle, before=None, restore=None):
        def fn():
            if before:
                before()
            cid = self.new_id("run")
            self.containers[cid] = (via, rt)
            argv = (self.cs(rt, "run", "--bundle", bundle, cid, restore=restore) if via == "cs"
                    else self.native(rt, "run", "--bundle", bundle, cid))
            res = self.timed(argv, "%s run via %s" % (rt, via))
            self.forget_if_gone(rt, cid)
            return res
        return fn

    def bench_run(self, rt, n, archive100):
        plain_cs, plain_nat = self.bundle("plain-cs-" + rt), self.bundle("plain-nat-" + rt)
        snap_cs = self.bundle("snap-cs-" + rt, archive=archive100)
        r = self.rounds(n, [("plain", self.run_case(rt, "cs", plain_cs)),
                            ("layer", self.run_case(rt, "cs", snap_cs)),
                            ("first", self.run_case(rt, "cs", snap_cs, before=self.drop_cache)),
                            ("copy", self.run_case(rt, "cs", snap_cs, restore="copy")),
                            ("ref", self.run_case(rt, "native", plain_nat))])
        self.add(Row("run, 100 MiB snapshot, later starts (%s)" % rt, "time", 1.3, r["layer"][0], r["ref"][0],
                     rt + " run", r["layer"][1], r["ref"][1]),
                 {"added ms": "%.1f" % added_ms(r["layer"][0], r["ref"][0]),
                  "over csshim's plain run ms": "%.1f" % added_ms(r["layer"][0], r["plain"][0])})
        self.add(Row("run, 100 MiB snapshot, first start (%s)" % rt, "time", 1.0, r["first"][0], r["copy"][0],
                     "copy restore", r["first"][1], r["copy"][1]))
        self.add(Row("run, 100 MiB snapshot, copy restore (%s)" % rt, "time", 2.5 if rt == "runc" else 1.5,
                     r["copy"][0], r["ref"][0], rt + " run", r["copy"][1], r["ref"][1]))
        self.add(Row("run, plain (%s)" % rt, "time", 1.15, r["plain"][0], r["ref"][0],
                     rt + " run", r["plain"][1], r["ref"][1]))
        self.check_no_stagings()

    def bench_run_large(self, archive, label, n):
        """Later starts from a large snapshot (runc): a start mounts the cached entry, so its size must not show."""
        log("run, %s snapshot, later starts: %d rounds" % (label, n))
        snap = self.bundle("snap-large", archive=archive)
        plain = self.bundle("plain-large")
        r = self.rounds(n, [("layer", self.run_case("runc", "cs", snap)),
                            ("ref", self.run_case("runc", "native", plain))])
        self.add(Row("run, %s snapshot, later starts (runc)" % label, "time", 1.3, r["layer"][0], r["ref"][0],
                     "runc run", r["layer"][1], r["ref"][1]))
        self.check_no_stagings()

    def docker_daemon(self):
        """The private dockerd, started on first use; None (the Docker rows left out, said in the log and the details)
        when Docker 26 is not fetched or --no-docker was given."""
        if self.docker is None and not self.args.no_docker:
            if not DockerDaemon.available(DOCKER26):
                log("Docker rows left out: no Docker 26 in %s (test/tools/fetch-clients.sh fetches it)" % DOCKER26)
                self.details.append(("Docker rows", {"left out": "no Docker 26 in .tools/docker26"}))
                self.args.no_docker = True
                return None
            base = os.path.join(self.work, "docker")
            os.mkdir(base)
            rootfs_tar = os.path.join(self.work, "rootfs.tar")
            sh(TAR, "-cf", rootfs_tar, "-C", self.rootfs, ".")
            self.docker = DockerDaemon(DOCKER26, base, self.csshim,
                                       ["--shim-config", os.environ["CSSHIM_CONFIG"], "--shim-runtime", self.runtimes["runc"][0]])
            try:
                self.docker.start(rootfs_tar)
            except DockerError as e:
                raise BenchError(str(e))
        return self.docker

    def bench_docker(self, archive, label, n):
        """Later starts through Docker: `docker run --rm` of busybox `true` with the snapshot annotation on the csshim
        runtime (its rootfs Docker's overlay2 layer, so csshim stacks the cache entry in place) against the same run on
        Docker's runc without it. The warm-up round builds the entry."""
        docker = self.docker_daemon()
        if docker is None:
            return
        log("run via Docker, %s snapshot, later starts: %d rounds" % (label, n))
        def run(runtime, *extra):
            return lambda: self.timed(docker.argv("run", "--rm", "--runtime=" + runtime, *extra, IMAGE, "true"),
                                      "docker run --runtime=" + runtime)
        r = self.rounds(n, [("layer", run("csshim", "--annotation", "dev.gvisor.tar.rootfs.upper=" + archive)),
                            ("ref", run("runc"))])
        self.add(Row("run via Docker, %s snapshot, later starts" % label, "time", 1.3, r["layer"][0], r["ref"][0],
                     "docker run (runc)", r["layer"][1], r["ref"][1]),
                 {"added ms": "%.1f" % added_ms(r["layer"][0], r["ref"][0])})
        self.check_no_stagings()

    def bench_shared_memory(self, archive100, count=4):
        """RAM that `count` live containers from one snapshot add in tmpfs staging: the growth of Shmem (tmpfs pages,
        which cannot be reclaimed) from before their creates to when all run, with the layer cache (one entry on
        disk, shared by all; warm) against the copying restore (a copy in each container's tmpfs upper)."""
        self.proc.run(self.cs("runc", "run", "--bundle", self.bundle("shm-warm", archive=archive100), self.new_id("warm")),
                      what="csshim run (cache warm-up)")
        added = {}
        for mode in ("layer", "copy"):
            before = shmem_kib()
            ids = []
            for k in range(count):
                # A bundle each: csshim's create records its staging in the bundle's config.json while the container lives.
                b = self.bundle("shm-%s-%d" % (mode, k), args=("sleep", "600"), archive=archive100)
                cid = self.new_id("shm")
                self.containers[cid] = ("cs", "runc")
                ids.append(cid)
                self.timed(self.cs("runc", "run", "--detach", "--bundle", b, cid, restore=mode), "csshim run -d (%s)" % mode)
            added[mode] = (shmem_kib() - before) / 1024
            for cid in ids:
                self.delete("runc", cid)
        self.add(Row("RAM, %d live containers from one 100 MiB snapshot (tmpfs staging)" % count, "mib", 96,
                     [added["layer"]], [added["copy"]], "copy restore"),
                 {"Shmem added MiB, layer cache": "%.1f" % added["layer"], "copy restore": "%.1f" % added["copy"]})
        self.check_no_stagings()

    def mount_engine_overlay(self, base):
        """An engine's rootfs, as Docker, containerd and podman hand it over: base/merged an overlay of the busybox
        rootfs with base/upper and base/work on disk."""
        sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s/upper,workdir=%s/work"
           % (self.rootfs, base, base), os.path.join(base, "merged"))

    def bench_inplace_disk(self, archive100):
        """Disk that a restore adds to the engine's layer in in-place staging (the bundle's rootfs an overlay with an
        on-disk upper, as Docker, containerd and podman hand it over): du of that upper after a create, before the
        container writes anything; the layer cache adds the archive once, in the cache, not per container."""
        grown = {}
        for mode in ("layer", "copy"):
            base = os.path.join(self.work, "ovl-du-" + mode)
            for d in ("upper", "work", "merged"):
                os.makedirs(os.path.join(base, d))
            merged = os.path.join(base, "merged")
            self.mount_engine_overlay(base)
            try:
                cid = self.new_id("du")
                self.containers[cid] = ("cs", "runc")
                b = self.bundle("du-" + mode, args=("sleep", "600"), archive=archive100, root=merged)
                self.timed(self.cs("runc", "create", "--bundle", b, cid, restore=mode), "csshim create (in place, %s)" % mode)
                grown[mode] = int(sh("du", "-sk", os.path.join(base, "upper")).split()[0]) / 1024
                self.delete("runc", cid)
            finally:
                for m in mounts_under(merged):
                    sh("umount", m)
            shutil.rmtree(os.path.join(base, "upper"))
        self.add(Row("disk, engine's upper after a create with the 100 MiB snapshot (in place)", "mib", 1,
                     [grown["layer"]], [grown["copy"]], "copy restore"))
        self.check_no_stagings()

    def bench_run_overlay(self, rt, n, archive100):
        """The bundle's rootfs is an overlay mount (lower busybox, upper on disk), fresh before every round. The first
        starts use a copy of the archive (another file, so another cache entry): the later starts' container layer of
        the last round still references the entry of the archive itself, which gc therefore keeps."""
        archive_first = archive100 + ".first-" + rt
        shutil.copyfile(archive100, archive_first)
        sides = {}
        for side in ("cs", "first", "copy", "nat", "tar"):
            base = os.path.join(self.work, "ovl-%s-%s" % (side, rt))
            sides[side] = base
            os.makedirs(os.path.join(base, "merged"))
        aside = itertools.count(1)
        def reset(base):
            merged = os.path.join(base, "merged")
            if os.path.ismount(merged):
                sh("umount", merged)
            # The last round's upper is moved aside, not deleted: ext4 without a journal (the work dir's filesystem on
            # the VMs these figures come from) skips inodes freed in the last 60 s (6 min while their inode table block
            # is dirty) when it allocates new ones, so deleting 2,200 files before each round would make every create
            # of the next round scan past them, for csshim's restore and GNU tar's alike (measured: tar -xf of the
            # 100 MiB archive through such an overlay 0.7-0.9 s against 0.15-0.25 s into a fresh directory). The work
            # dir, and these uppers with it, are removed when the bench exits.
            k = next(aside)
            for d in ("upper", "work"):
                path = os.path.join(base, d)
                if os.path.exists(path):
                    os.rename(path, os.path.join(base, "%s.%d" % (d, k)))
                os.mkdir(path)
            # The last round's 100 MiB goes to disk now, untimed, not as writeback during this round or later rows.
            os.sync()
            self.mount_engine_overlay(base)
        snap_cs = self.bundle("ovl-snap-cs-" + rt, archive=archive100, root=os.path.join(sides["cs"], "merged"))
        snap_first = self.bundle("ovl-snap-first-" + rt, archive=archive_first, root=os.path.join(sides["first"], "merged"))
        snap_copy = self.bundle("ovl-snap-copy-" + rt, archive=archive100, root=os.path.join(sides["copy"], "merged"))
        plain_nat = self.bundle("ovl-plain-nat-" + rt, root=os.path.join(sides["nat"], "merged"))
        def tar_x():
            # What writing the same archive through such an overlay costs anyone: GNU tar into a fresh one.
            reset(sides["tar"])
            return self.timed(gnu_tar_x(archive100, os.path.join(sides["tar"], "merged")), "tar -xf into an overlay")
        def before_first():
            reset(sides["first"])
            self.drop_cache(archive_first)
        r = self.rounds(n, [("layer", self.run_case(rt, "cs", snap_cs, before=lambda: reset(sides["cs"]))),
                            ("first", self.run_case(rt, "cs", snap_first, before=before_first)),
                            ("copy", self.run_case(rt, "cs", snap_copy, before=lambda: reset(sides["copy"]), restore="copy")),
                            ("ref", self.run_case(rt, "native", plain_nat, before=lambda: reset(sides["nat"]))),
                            ("tar", tar_x)])
        self.add(Row("run, 100 MiB snapshot, later starts, overlay rootfs (%s)" % rt, "time", 1.3, r["layer"][0],
                     r["ref"][0], rt + " run", r["layer"][1], r["ref"][1]))
        self.add(Row("run, 100 MiB snapshot, first start, overlay rootfs (%s)" % rt, "time", 1.0, r["first"][0],
                     r["copy"][0], "copy restore", r["first"][1], r["copy"][1]))
        self.add(Row("run, 100 MiB snapshot, copy restore, overlay rootfs (%s)" % rt, "time", 2.5 if rt == "runc" else 1.5,
                     r["copy"][0], r["ref"][0], rt + " run", r["copy"][1], r["ref"][1]))
        restore = [a - b for a, b in zip(r["copy"][0], r["ref"][0])]
        self.add(Row("run, 100 MiB snapshot, copy restore, overlay rootfs (%s): its restore (info)" % rt, "info", None,
                     restore, r["tar"][0], "tar -xf there", None, r["tar"][1]),
                 {"restore": "csshim run with the archive (copy restore) minus the native run, paired per round"})
        for base in sides.values():
            merged = os.path.join(base, "merged")
            if os.path.ismount(merged):
                sh("umount", merged)
            # The engine's layer goes, as when Docker removes the container: its reference keeps the cache entry.
            shutil.rmtree(os.path.join(base, "upper"))
        os.unlink(archive_first)
        self.check_no_stagings()

    def bench_phases(self, rt, n):
        """create, start and delete of a detached `true` container, each timed alone."""
        bundles = {"cs": self.bundle("ph-cs-" + rt), "native": self.bundle("ph-nat-" + rt)}
        times = {(via, p): [] for via in bundles for p in ("create", "start", "delete")}
        rss = {k: 0 for k in times}
        for i in range(1 + n):
            order = ["cs", "native"] if i % 2 == 0 else ["native", "cs"]
            for via in order:
                cmd = self.cs if via == "cs" else self.native
                cid = self.new_id("ph")
                self.containers[cid] = (via, rt)
                steps = [("create", cmd(rt, "create", "--bundle", bundles[via], cid)),
                         ("start", cmd(rt, "start", cid)),
                         ("delete", cmd(rt, "delete", "--force", cid))]
                for p, argv in steps:
                    ns, r = self.timed(argv, "%s %s via %s" % (rt, p, via))
                    if i >= 1:
                        times[(via, p)].append(ns)
                        rss[(via, p)] = max(rss[(via, p)], r)
                self.containers.pop(cid, None)
        for p in ("create", "start", "delete"):
            self.add(Row("%s, plain (%s, info)" % (p, rt), "info", None, times[("cs", p)], times[("native", p)],
                         "%s %s" % (rt, p), rss[("cs", p)], rss[("native", p)]),
                     {"added ms": "%.2f" % added_ms(times[("cs", p)], times[("native", p)])})
        self.check_no_stagings()

    # ------------------------------------------------------------ rows: snapshot and restore

    def fill_container(self, kind):
        """A created (never started) runc container through csshim whose upper holds tree `kind`."""
        cid = self.new_id("src-" + kind)
        b = self.bundle("src-" + kind, args=("sleep", "600"))
        self.containers[cid] = ("cs", "runc")
        self.timed(self.cs("runc", "create", "--bundle", b, cid), "csshim create (source)")
        staging = self.staging_of(b)
        sh(sys.executable, TREE, kind, os.path.join(staging, "merged"))
        upper = os.path.join(staging, "layer", "upper")
        return cid, upper, count_nodes(upper)

    def bench_snapshot(self, kind, label, n, do_row=True):
        """Returns (archive path, node count) after the snapshot row of tree `kind` (no row with do_row=False)."""
        log("tree %s: writing it into a container's upper" % kind)
        cid, upper, nodes = self.fill_container(kind)
        archive = os.path.join(self.fs, "%s.tar" % kind)
        gnu = os.path.join(self.fs, "%s.gnu.tar" % kind)
        snap = self.cs("runc", "tar", "rootfs-upper", "--file", archive, cid)
        if do_row:
            log("snapshot %s: %d rounds" % (kind, n))
            def fresh(fn):
                def g():
                    for f in (archive, gnu):
                        if os.path.exists(f):
                            os.unlink(f)
                    return fn()
                return g
            sizes = {}
            def timed_size(argv, what, out):
                res = self.timed(argv, what)
                sizes[what] = os.path.getsize(out)
                return res
            r = self.rounds(n, [("cs", fresh(lambda: timed_size(snap, "csshim", archive))),
                                ("ref", fresh(lambda: timed_size(
                                    [TAR, "--xattrs", "--xattrs-include=*", "-cf", gnu, "-C", upper, "."], "tar", gnu)))],
                            warmup=0 if self.quick else 1)
            self.add(Row("snapshot, %s" % label, "speed", 2.0, r["cs"][0], r["ref"][0], "tar -cf",
                         r["cs"][1], r["ref"][1]),
                     {"archive MiB csshim": "%.0f" % (sizes["csshim"] / MIB), "tar": "%.0f" % (sizes["tar"] / MIB)})
            self.rss_alone.append(("snapshot " + label, r["cs"][1]))
            self.rss_tar.append(r["ref"][1])
            if os.path.exists(gnu):
                os.unlink(gnu)
        if not os.path.exists(archive):
            self.timed(snap, "csshim tar rootfs-upper")
        self.delete("runc", cid)
        return archive, nodes

    def bench_restore(self, kind, label, archive, nodes, n):
        log("restore %s: %d rounds" % (kind, n))
        with_b = self.bundle("rest-with-" + kind, args=("sleep", "600"), archive=archive)
        without_b = self.bundle("rest-without-" + kind, args=("sleep", "600"))
        dst = os.path.join(self.fs, "tar-dst")
        checked = []

        def tar_x():
            os.mkdir(dst)
            res = self.timed(gnu_tar_x(archive, dst), "tar -xf")
            shutil.rmtree(dst)
            return res

        def create(bundle, tag, restore=None, before=None):
            def fn():
                if before:
                    before()
                cid = self.new_id(tag)
                self.containers[cid] = ("cs", "runc")
                res = self.timed(self.cs("runc", "create", "--bundle", bundle, cid, restore=restore),
                                 "csshim create (%s)" % tag)
                if restore == "copy" and not checked:
                    # Once: the restored upper holds every node of the tree (plus the upper's own root).
                    upper = os.path.join(self.staging_of(bundle), "layer", "upper")
                    got = count_nodes(upper)
                    if got != nodes:
                        raise BenchError("restore of %s gave %d nodes, the tree has %d" % (archive, got, nodes))
                    checked.append(True)
                self.delete("runc", cid)
                return res
            return fn

        r = self.rounds(n, [("tar", tar_x), ("with", create(with_b, "rw", restore="copy")),
                            ("first", create(with_b, "rf", before=self.drop_cache)),
                            ("without", create(without_b, "ro"))],
                        warmup=0 if self.quick else 1)
        restore = [a - b for a, b in zip(r["with"][0], r["without"][0])]
        first = [a - b for a, b in zip(r["first"][0], r["without"][0])]
        # csshim alone: /bin/true as the runtime, so ru_maxrss is csshim's own; once copying, once building the entry.
        true = shutil.which("true")
        rss_alone = 0
        for mode in ("copy", "layer"):
            if mode == "layer":
                self.drop_cache()
            cid = self.new_id("rss")
            _, rss = self.timed(self.cs("runc", "create", "--bundle", with_b, cid, runtime_path=true, restore=mode),
                                "csshim create (/bin/true, %s)" % mode)
            self.proc.quiet(self.cs("runc", "delete", "--force", cid, runtime_path=true))
            self.rss_alone.append(("restore (%s) %s" % (mode, label), rss))
            rss_alone = max(rss_alone, rss)
        self.rss_tar.append(r["tar"][1])
        self.add(Row("restore, copy, %s" % label, "speed", 1.5, restore, r["tar"][0], "tar -xf", rss_alone, r["tar"][1]),
                 {"create with archive ms": fmt_ms(r["with"][0]), "create without ms": fmt_ms(r["without"][0]),
                  "peak RSS create with archive, runc included MiB": fmt_rss(r["with"][1])})
        # Info, not a target: the build writes the tree to disk (the cache's ext4), the copy into RAM (tmpfs), and ext4
        # creates a file at about 3x tmpfs's cost; what a start pays is in the run rows' first-start targets.
        self.add(Row("restore, first start (cache entry built, info), %s" % label, "info", None, first, restore,
                     "copy restore", None, None),
                 {"create building the entry ms": fmt_ms(r["first"][0])})

    def bench_rss_entries(self):
        """Peak RSS only: snapshot and restore of 100,000 empty files, where per-entry memory shows."""
        log("tree entries: writing it into a container's upper (RSS probes)")
        cid, upper, nodes = self.fill_container("entries")
        archive = os.path.join(self.fs, "entries.tar")
        ns, rss = self.timed(self.cs("runc", "tar", "rootfs-upper", "--file", archive, cid), "csshim tar rootfs-upper")
        self.rss_alone.append(("snapshot 100,000 empty files", rss))
        self.delete("runc", cid)
        b = self.bundle("rest-entries", args=("sleep", "600"), archive=archive)
        pid = self.new_id("rss")
        ns2, rss2 = self.timed(self.cs("runc", "create", "--bundle", b, pid, runtime_path=shutil.which("true")),
                               "csshim create (/bin/true)")
        self.proc.quiet(self.cs("runc", "delete", "--force", pid, runtime_path=shutil.which("true")))
        self.rss_alone.append(("restore 100,000 empty files", rss2))
        self.rss_notes.append("100,000 empty files (%d nodes, archive %.0f MiB): snapshot %.0f ms, restore (create, no runtime) %.0f ms"
                              % (nodes, os.path.getsize(archive) / MIB, ns / 1e6, ns2 / 1e6))
        os.unlink(archive)

    # ------------------------------------------------------------ checks

    def check_no_stagings(self):
        left = mounts_under(self.state_dir)
        if left:
            raise BenchError("csshim left mounts after its containers were deleted: %s" % ", ".join(left))

    # ------------------------------------------------------------ main

    def main(self):
        q = self.quick
        self.rss_alone, self.rss_tar, self.rss_notes = [], [], []
        self.setup()
        n_state, n_run, n_phase = (10, 5, 3) if q else (60, 20, 15)
        n_dev, n_mixed = (2, 3) if q else (5, 7)
        log("work dir %s, csshim %s, runtimes %s" % (self.work, self.csshim, ", ".join(self.runtimes)))

        for rt in self.runtimes:
            log("state (%s): %d rounds" % (rt, n_state))
            self.bench_state(rt, n_state)
        self.bench_floor(n_state)

        archive100, _ = self.bench_snapshot("100m", "100 MiB", 0, do_row=False)
        for rt in self.runtimes:
            log("run (%s): %d rounds" % (rt, n_run))
            self.bench_run(rt, n_run, archive100)
            log("run, overlay rootfs (%s): %d rounds" % (rt, n_run))
            self.bench_run_overlay(rt, n_run, archive100)
            log("create/start/delete (%s): %d rounds" % (rt, n_phase))
            self.bench_phases(rt, n_phase)
        self.bench_docker(archive100, "100 MiB", n_run)

        for kind, label, n in (("mixed", "mixed tree (4x64 MiB + 8,000 files)", n_mixed),
                               ("dev", "1 GiB tree (bench/tar's)", n_dev)):
            if kind == "dev" and self.args.no_1g:
                continue
            archive, nodes = self.bench_snapshot(kind, label, n)
            self.bench_restore(kind, label, archive, nodes, n)
            if kind == "dev":
                self.bench_run_large(archive, "1 GiB", n_run)
                self.bench_docker(archive, "1 GiB", n_run)
            os.unlink(archive)
        self.bench_shared_memory(archive100)
        self.bench_inplace_disk(archive100)

        self.bench_rss_entries()
        worst = max(self.rss_alone, key=lambda x: x[1])
        self.add(Row("peak RSS, csshim alone, any archive", "rss", 64, [worst[1] / 1024],
                     [max(self.rss_tar) / 1024] if self.rss_tar else [], "GNU tar", worst[1],
                     max(self.rss_tar) if self.rss_tar else None),
                 {"largest at": worst[0],
                  "all (MiB)": ", ".join("%s %.1f" % (k, v / 1024) for k, v in self.rss_alone),
                  "timings": "; ".join(self.rss_notes)})

        rows = [r for r in self.rows]
        order = ["restore", "snapshot", "run, 100", "run, 1 GiB", "run via Docker", "run, plain", "RAM", "disk", "state",
                 "create", "start", "delete", "peak"]
        rows.sort(key=lambda r: next(i for i, p in enumerate(order) if r.label.startswith(p)))
        floor = self.proc.run(["/bin/true"])[1]
        with open("/proc/self/mountinfo") as f:
            mount_lines = sum(1 for _ in f)
        print_table(rows, "%s vs its references (%s; %d CPUs, load %s; %d mounts; RSS floor of the spawner %.1f MiB%s)" % (
            self.csshim_version(), "quick" if q else "default", os.cpu_count(),
            " ".join("%.1f" % x for x in os.getloadavg()), mount_lines, floor / 1024,
            "" if self.proc.timer else ", no C compiler: Python's own RSS is in every figure"))
        print()
        print("details:")
        for label, raw in self.details:
            print("  %s: %s" % (label, "; ".join("%s %s" % kv for kv in raw.items())))
        return 1 if any(r.met() is False for r in rows) else 0

    def csshim_version(self):
        try:
            return sh(self.csshim, "--shim-runtime", "/bin/true", "--version").splitlines()[0].strip()
        except (BenchError, IndexError):
            return "?"

    def cleanup(self):
        self.proc.end_child()
        if self.docker is not None:
            try:
                self.docker.stop()
            except (OSError, subprocess.SubprocessError) as e:
                log("stopping the private dockerd: %s" % e)
        for cid, (via, rt) in list(self.containers.items()):
            try:
                if via == "cs":
                    self.proc.quiet(self.cs(rt, "delete", "--force", cid))
                self.proc.quiet(self.native(rt, "delete", "--force", cid))
            except OSError:
                pass
        self.containers.clear()
        leaked = mounts_under(getattr(self, "state_dir", self.work + "/run/state"))
        if leaked:
            log("csshim left mounts behind (a csshim bug): " + ", ".join(leaked))
        for m in mounts_under(self.work):
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)
        left = mounts_under(self.work)
        if left:
            log("cannot unmount %s; leaving %s" % (", ".join(left), self.work))
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(prog="bench/run.sh", description="csshim against its references, side by side.")
    p.add_argument("--quick", action="store_true", help="few rounds: a fast check, not stable figures")
    p.add_argument("--no-1g", action="store_true", help="leave out the 1 GiB tree")
    p.add_argument("--no-docker", action="store_true", help="leave out the Docker rows")
    p.add_argument("--extra-mounts", type=int, default=0, metavar="N",
                   help="run in a private mount namespace with N more mounts, as on a busy container host")
    p.add_argument("--runtime", action="append", metavar="NAME=PATH",
                   help="runtimes to measure (repeatable; default runc=/usr/sbin/runc and runsc=/usr/bin/runsc)")
    p.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"), help="where the work dir goes (bundles on its filesystem)")
    p.add_argument("--csshim", required=True, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.runtime = args.runtime or ["runc=/usr/sbin/runc", "runsc=/usr/bin/runsc"]
    if not any(s.startswith("runc=") for s in args.runtime):
        raise SystemExit("bench/run.sh: the runs need runc (root filesystem spec and restore rows): give --runtime runc=PATH")

    def interrupted(sig, _frame):
        raise Interrupted(signal.Signals(sig).name)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)

    bench = None
    status = 2
    try:
        bench = Bench(args)
        status = bench.main()
    except BenchError as e:
        log("failed: %s" % e)
    except Interrupted as e:
        log("interrupted (%s); cleaning up" % e)
    except Exception:  # a bug of the bench: still exit 2, after cleaning up
        import traceback
        traceback.print_exc()
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if bench is not None:
            bench.cleanup()
    sys.exit(status)


if __name__ == "__main__":
    main()
