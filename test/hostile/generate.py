#!/usr/bin/env python3
"""Hostile rootfs-upper archives: one file per case plus manifest.json.

usage: generate.py OUTDIR

Every archive must be refused by every restore (Csshim.TarLayer.UpperArchive.Extract, Validate and
ApplyInPlace, with a modest budget: MaxBytes 64 MiB, MaxEntries 10000) with an error containing
"expect"; Extract leaves nothing behind and nothing is ever written outside the destination.
Python stdlib only: tarfile where it can express the attack, raw bytes otherwise.
"""
import gzip
import io
import json
import os
import sys
import tarfile


def ti(name, type_=tarfile.REGTYPE, size=0, linkname="", mode=0o644, devmajor=0, devminor=0):
    t = tarfile.TarInfo(name)
    t.type = type_
    t.size = size
    t.linkname = linkname
    t.mode = mode
    t.mtime = 1700000000
    t.devmajor = devmajor
    t.devminor = devminor
    return t


def pax_info(name, headers):
    t = ti(name)
    t.pax_headers = headers
    return t


def tar_of(entries, fmt=tarfile.PAX_FORMAT):
    """entries: list of (TarInfo, bytes-or-None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def checksum(block):
    b = bytearray(block)
    b[148:156] = b" " * 8
    return sum(b)


def raw_header(name, typeflag=b"0", size=0, linkname=b"", magic=b"ustar\x0000"):
    """A hand-made USTAR header block (bytes name, any typeflag)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\x00"
    h[108:116] = b"0000000\x00"
    h[116:124] = b"0000000\x00"
    h[124:136] = b"%011o\x00" % size
    h[136:148] = b"%011o\x00" % 1700000000
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname
    h[257:265] = magic
    h[148:156] = b"%06o\x00 " % checksum(h)
    return bytes(h)


def pad(data):
    return data + b"\x00" * ((512 - len(data) % 512) % 512)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


END = b"\x00" * 1024


def gzip_of_empty_files(pattern, count):
    """A gzip'ed tar of `count` empty files named pattern % i."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        for i in range(count):
            gz.write(raw_header(pattern % i))
        gz.write(END)
    return out.getvalue()


def cases():
    c = []

    def add(name, data, expect):
        c.append((name, data, expect))

    add("dotdot", tar_of([(ti("./a/../../etc/x", size=1), b"x")]), "escapes the destination")
    add("dotdot-only", tar_of([(ti("../x", size=1), b"x")]), "escapes the destination")
    add("absolute", tar_of([(ti("/etc/x", size=1), b"x")]), "is absolute")
    # A symlink pointing out, then a file written "through" it.
    add("symlink-escape-file", tar_of([
        (ti("./evil", tarfile.SYMTYPE, linkname="/tmp"), None),
        (ti("./evil/pwned", size=1), b"x")]), "passes through a symlink")
    add("symlink-escape-relative", tar_of([
        (ti("./d/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./d/up", tarfile.SYMTYPE, linkname="../.."), None),
        (ti("./d/up/x", size=1), b"x")]), "passes through a symlink")
    # An in-archive symlink dir, then a directory and a file beneath it.
    add("symlink-dir-then-child", tar_of([
        (ti("./lnk", tarfile.SYMTYPE, linkname="/"), None),
        (ti("./lnk/etc/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./lnk/etc/passwd", size=1), b"x")]), "passes through a symlink")
    add("hardlink-escape", tar_of([(ti("./h", tarfile.LNKTYPE, linkname="../../etc/passwd"), None)]),
        "hard link target escapes the destination")
    add("hardlink-absolute", tar_of([(ti("./h", tarfile.LNKTYPE, linkname="/etc/passwd"), None)]),
        "hard link target is absolute")
    add("hardlink-not-extracted", tar_of([(ti("./h", tarfile.LNKTYPE, linkname="./missing"), None)]),
        "was not extracted before it")
    add("hardlink-self", tar_of([(ti("./a", size=1), b"x"), (ti("./a", tarfile.LNKTYPE, linkname="./a"), None)]),
        "hard link to itself")
    # Hard link whose target path goes through an in-archive symlink.
    add("hardlink-via-symlink", tar_of([
        (ti("./s", tarfile.SYMTYPE, linkname="/etc"), None),
        (ti("./h", tarfile.LNKTYPE, linkname="./s/passwd"), None)]), "was not extracted before it")
    add("chardev", tar_of([(ti("./null", tarfile.CHRTYPE, devmajor=1, devminor=3), None)]), "device nodes are not allowed")
    add("blockdev", tar_of([(ti("./sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None)]), "device nodes are not allowed")
    add("blockdev-zero", tar_of([(ti("./b", tarfile.BLKTYPE), None)]), "device nodes are not allowed")
    whole = tar_of([(ti("./big", size=5000), b"A" * 5000)], fmt=tarfile.USTAR_FORMAT)
    add("truncated-data", whole[:512 + 1000], "archive truncated")
    add("truncated-header", whole[:300], "archive truncated")
    add("no-end-marker", whole[:512 + 5120], "archive truncated")
    bad = bytearray(whole)
    bad[0] ^= 0x01  # name changes, checksum does not
    add("bad-checksum", bytes(bad), "bad header checksum")
    add("garbage", bytes(range(256)) * 8, "not a tar archive")
    add("text-input", b"This is not an archive at all.\n" * 40, "not a tar archive")
    add("empty-input", b"", "not a tar archive")
    add("gzip-garbage", gzip.compress(b"hello, not a tar\n" * 100), "not a tar archive")
    add("corrupt-gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 100, "corrupt compressed stream")
    add("corrupt-zstd", b"\x28\xb5\x2f\xfd" + bytes(range(200)), "corrupt compressed stream")
    add("corrupt-xz", b"\xfd7zXZ\x00" + bytes(range(200)), "corrupt compressed stream")
    add("corrupt-bzip2", b"BZh9" + bytes(range(200)), "corrupt compressed stream")
    long = "./" + "/".join(["d" * 200] * 25)  # > PATH_MAX
    add("path-max", tar_of([(ti(long, size=0), b"")]), "exceeds PATH_MAX")
    add("name-max", tar_of([(ti("./" + "n" * 300, size=0), b"")]), "beyond NAME_MAX")
    pax = pad(pax_record(b"path", b"./ok\x00../../etc/x"))
    add("nul-in-pax-path", raw_header(b"./PaxHeaders/x", b"x", len(pax)) + pax + raw_header(b"./x") + END,
        "NUL in PAX path")
    pax = pad(pax_record(b"linkpath", b"a\x00b"))
    add("nul-in-pax-linkpath", raw_header(b"./PaxHeaders/s", b"x", len(pax)) + pax + raw_header(b"./s", b"2") + END,
        "NUL in PAX linkpath")
    # 1 GiB of zeros in one file: ~1 MiB of gzip that must stop at the 64 MiB budget.
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw_header(b"./bomb", size=1 << 30))
        chunk = b"\x00" * (1 << 20)
        for _ in range(1024):
            gz.write(chunk)
        gz.write(END)
    add("gzip-bomb", bomb.getvalue(), "byte budget")
    # Many tiny entries: the entry budget.
    add("entry-bomb", gzip_of_empty_files(b"./f%d", 20000), "entry budget")
    add("unsupported-type", raw_header(b"./weird", b"Z") + END, "unsupported entry type")
    add("gnu-sparse", raw_header(b"./sparse", b"S") + END, "unsupported entry type")
    add("huge-pax", raw_header(b"./PaxHeaders/x", b"x", 1 << 30) + END, "too large")
    add("root-not-dir", tar_of([(ti("./", size=1), b"x")]), "root entry is not a directory")
    add("file-over-dir", tar_of([
        (ti("./d/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./d/f", size=1), b"x"),
        (ti("./d", size=1), b"x")]), "directory of that name already exists")
    add("file-as-parent", tar_of([
        (ti("./f", size=1), b"x"),
        (ti("./f/child", size=1), b"x")]), "non-directory")
    # A restore's entry budget counts the parent directories it must create: 6000 files, 12000 nodes.
    add("implied-parents-bomb", gzip_of_empty_files(b"./d%d/f", 6000), "entry budget")
    add("whiteout-as-parent", tar_of([
        (ti("./w", tarfile.CHRTYPE, mode=0), None),
        (ti("./w/child", size=1), b"x")]), "non-directory")
    add("whiteout-over-dir", tar_of([
        (ti("./d/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./d", tarfile.CHRTYPE, mode=0), None)]), "directory of that name already exists")
    add("hardlink-to-dir", tar_of([
        (ti("./d/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./h", tarfile.LNKTYPE, linkname="./d"), None)]), "is a directory")
    # A hard link to a path that a later entry turned into a directory.
    add("hardlink-to-replaced", tar_of([
        (ti("./x", size=1), b"x"),
        (ti("./x/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./h", tarfile.LNKTYPE, linkname="./x"), None)]), "is a directory")
    add("bad-acl", tar_of([(pax_info("./f", {"SCHILY.xattr.system.posix_acl_access": "!!not base64!!"}), b"")]),
        "neither a raw ACL nor base64")
    return c


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = []
    for name, data, expect in cases():
        ext = {b"\x1f\x8b": ".tar.gz", b"\x28\xb5": ".tar.zst", b"\xfd7": ".tar.xz", b"BZ": ".tar.bz2"}.get(data[:2], ".tar")
        fname = name + ext
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        manifest.append({"name": name, "file": fname, "expect": expect})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} cases in {out}")


if __name__ == "__main__":
    main()
