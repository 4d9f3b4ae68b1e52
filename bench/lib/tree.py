#!/usr/bin/env python3
"""The file trees the benches archive and restore, made the same way every time (fixed seed).

  tree.py dev   DIR   bench/tar's ~1 GiB tree: 4 x 200 MiB random files, 20,000 files of 1-16 KiB in 200 dirs,
                      a symlink every 10th file, a hard link every 20th, a user xattr every 100th
  tree.py mixed DIR   4 x 64 MiB random files, 8,000 files of 1-32 KiB in 80 dirs (~380 MiB)
  tree.py 100m  DIR   the "100 MiB snapshot": 1 x 64 MiB random file, 2,200 files of 1-32 KiB in 22 dirs (~100 MiB)
  tree.py entries DIR 100,000 empty files in 100 dirs: many entries, few bytes (what per-entry memory shows in)

DIR is created if missing; what is in it already stays. Prints "<nodes> nodes, <bytes> bytes".
"""
import os
import random
import sys

KINDS = {
    # large files (count, MiB), small files (count, min KiB, max KiB, dirs), links and xattrs
    "dev": dict(large=(4, 200), small=(20000, 1, 16, 200), links=True),
    "mixed": dict(large=(4, 64), small=(8000, 1, 32, 80), links=False),
    "100m": dict(large=(1, 64), small=(2200, 1, 32, 22), links=False),
    "entries": dict(large=(0, 0), small=(100000, 0, 0, 100), links=False),
}


def make(kind, root):
    spec = KINDS[kind]
    os.makedirs(root, exist_ok=True)
    count, mib = spec["large"]
    for i in range(1, count + 1):
        with open(os.path.join(root, "large%d" % i), "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
    n, lo, hi, dirs = spec["small"]
    rnd = random.Random(7)
    blob = os.urandom(hi << 10)
    for i in range(n):
        d = os.path.join(root, "dir%03d" % (i % dirs))
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "f%05d" % i)
        with open(path, "wb") as f:
            f.write(blob[: rnd.randint(lo << 10, hi << 10)])
        if spec["links"]:
            if i % 10 == 0:
                os.symlink("f%05d" % i, os.path.join(d, "s%05d" % i))
            if i % 20 == 0:
                os.link(path, os.path.join(d, "h%05d" % i))
            if i % 100 == 0:
                os.setxattr(path, "user.tag", b"\x00\x01bin")
    nodes = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        nodes += 1 + len(filenames)
        size += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in filenames)
    print("%d nodes, %d bytes" % (nodes, size))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(__doc__)
    make(sys.argv[1], sys.argv[2])
