using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace Csshim.TarLayer.Posix;

/// <summary>File metadata from statx, never following a final symlink.</summary>
internal readonly record struct FileStat(
    uint Mode, uint Uid, uint Gid, uint NLink, ulong Ino, long Size,
    long MtimeSec, uint MtimeNsec, uint RdevMajor, uint RdevMinor, uint DevMajor, uint DevMinor, ulong MountId, ulong Blocks)
{
    public uint Type => Mode & Fs.S_IFMT;
    public uint Perm => Mode & 0xFFF;
    /// <summary>Same inode: what a directory reopened by path is checked against.</summary>
    public bool SameNode(in FileStat other) => Ino == other.Ino && DevMajor == other.DevMajor && DevMinor == other.DevMinor;
}

/// <summary>
/// The file-system calls of TarLayer. Names are "raw strings": one char per byte (Latin-1), so Linux names that are not
/// UTF-8 survive a round trip unchanged. Calls on fds go through Mono.Posix (Mono.Unix.Native.Syscall). Calls that
/// take a name (the *at family, l*xattr, xattr names) are bound here on byte strings instead:
/// Mono.Posix marshals names with UnixEncoding, which escapes invalid UTF-8 but does not give every byte string back
/// (measured: 48 of 2 million random high-byte names changed, e.g. F8 83 B7 9F 9C came back as F3 B7 9F 9C, the
/// old 5-byte UTF-8 forms), and xattr names with plain UTF-8. These are portable *at calls: no layouts, no
/// architecture-specific values. What Mono.Posix lacks altogether (statx, openat2, copy_file_range...) is in Linux.
/// </summary>
internal static unsafe partial class Fs
{
    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000, S_IFBLK = 0x6000,
        S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFIFO = 0x1000;
    public const int O_RDONLY = Linux.O_RDONLY, O_WRONLY = Linux.O_WRONLY, O_CREAT = Linux.O_CREAT, O_EXCL = Linux.O_EXCL,
        O_CLOEXEC = Linux.O_CLOEXEC, O_NONBLOCK = Linux.O_NONBLOCK, O_NOCTTY = Linux.O_NOCTTY;
    public static readonly int O_DIRECTORY = Linux.O_DIRECTORY, O_NOFOLLOW = Linux.O_NOFOLLOW;
    public const int AT_SYMLINK_NOFOLLOW = Linux.AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR = Linux.AT_REMOVEDIR, AT_EMPTY_PATH = Linux.AT_EMPTY_PATH;
    // errno values: asm-generic, the same on x86_64 and arm64.
    public const int ENOENT = 2, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, ENOSPC = 28, ELOOP = 40, ENOSYS = 38,
        EXDEV = 18, EDQUOT = 122, ENODATA = 61, ERANGE = 34, EPERM = 1, EINTR = 4, E2BIG = 7, ENAMETOOLONG = 36,
        ENXIO = 6, EINVAL = 22, EOPNOTSUPP = 95, EFBIG = 27;
    public const ulong RESOLVE_NO_XDEV = Linux.RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS = Linux.RESOLVE_NO_MAGICLINKS,
        RESOLVE_NO_SYMLINKS = Linux.RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = Linux.RESOLVE_BENEATH;

    [StructLayout(LayoutKind.Sequential)]
    struct Timespec { public long Sec, Nsec; }

    [LibraryImport("libc", SetLastError = true)] private static partial int openat(int dirfd, byte* path, int flags, uint mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);
    [LibraryImport("libc", SetLastError = true)] private static partial int symlinkat(byte* target, int dirfd, byte* path);
    [LibraryImport("libc", SetLastError = true)] private static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);
    [LibraryImport("libc", SetLastError = true)] private static partial int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint fgetxattr(int fd, byte* name, byte* value, nuint size);
    [LibraryImport("libc", SetLastError = true)] private static partial nint flistxattr(int fd, byte* list, nuint size);
    [LibraryImport("libc", SetLastError = true)] private static partial nint lgetxattr(byte* path, byte* name, byte* value, nuint size);
    [LibraryImport("libc", SetLastError = true)] private static partial nint llistxattr(byte* path, byte* list, nuint size);
    [LibraryImport("libc", SetLastError = true)] private static partial int fremovexattr(int fd, byte* name);
    [LibraryImport("libc", SetLastError = true)] private static partial int lremovexattr(byte* path, byte* name);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Raw string (one char per byte) to a NUL-terminated byte array.</summary>
    public static byte[] Z(string raw)
    {
        var b = new byte[raw.Length + 1];
        Encoding.Latin1.GetBytes(raw, 0, raw.Length, b, 0);
        return b;
    }

    public static string ErrText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static int OpenAt(int dirfd, string path, int flags, uint mode = 0)
    {
        fixed (byte* p = Z(path)) return openat(dirfd, p, flags | O_CLOEXEC, mode);
    }

    /// <summary>openat2; returns -1 with errno set. ENOSYS when the kernel lacks it.</summary>
    public static int OpenAt2(int dirfd, string path, int flags, ulong resolve)
    {
        var how = new Linux.OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = 0, Resolve = resolve };
        fixed (byte* p = Z(path)) return Linux.openat2(dirfd, p, how);
    }

    public static void Close(int fd) { if (fd >= 0) Syscall.close(fd); }
    public static int Dup(int fd) => Syscall.dup(fd);
    // geteuid/getegid are system calls each time; csshim never changes its ids.
    public static readonly uint EffectiveUid = Syscall.geteuid(), EffectiveGid = Syscall.getegid();

    public static int Read(int fd, Span<byte> buf)
    {
        fixed (byte* p = buf)
            while (true)
            {
                var n = Syscall.read(fd, p, (ulong)buf.Length);
                if (n >= 0 || Errno != EINTR) return (int)n;
            }
    }

    /// <summary>Write all bytes at the fd's offset, or at offset (pwrite) when it is not -1; returns 0 or errno.</summary>
    public static int WriteAll(int fd, ReadOnlySpan<byte> buf, long offset = -1)
    {
        fixed (byte* p0 = buf)
        {
            var p = p0; var left = buf.Length;
            while (left > 0)
            {
                var n = offset < 0 ? Syscall.write(fd, p, (ulong)left) : Syscall.pwrite(fd, p, (ulong)left, offset);
                if (n < 0) { var e = Errno; if (e == EINTR) continue; return e; }
                p += n; left -= (int)n;
                if (offset >= 0) offset += n;
            }
        }
        return 0;
    }

    public static int MkdirAt(int dirfd, string name, uint mode) { fixed (byte* p = Z(name)) return mkdirat(dirfd, p, mode); }
    public static int MknodAt(int dirfd, string name, uint mode, uint major, uint minor)
    {
        ulong dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8)
                  | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        fixed (byte* p = Z(name)) return mknodat(dirfd, p, mode, dev);
    }
    public static int SymlinkAt(string target, int dirfd, string name)
    {
        fixed (byte* t = Z(target)) fixed (byte* p = Z(name)) return symlinkat(t, dirfd, p);
    }
    public static int LinkAt(int olddirfd, string oldname, int newdirfd, string newname)
    {
        fixed (byte* o = Z(oldname)) fixed (byte* n = Z(newname)) return linkat(olddirfd, o, newdirfd, n, 0);
    }
    public static int UnlinkAt(int dirfd, string name, int flags) { fixed (byte* p = Z(name)) return unlinkat(dirfd, p, flags); }
    public static int LchownAt(int dirfd, string name, uint uid, uint gid) { fixed (byte* p = Z(name)) return fchownat(dirfd, p, uid, gid, AT_SYMLINK_NOFOLLOW); }
    public static int ChmodAt(int dirfd, string name, uint mode) { fixed (byte* p = Z(name)) return fchmodat(dirfd, p, mode, 0); }
    public static int Fchmod(int fd, uint mode) => Syscall.fchmod(fd, (FilePermissions)mode);
    public static int Fchown(int fd, uint uid, uint gid) => Syscall.fchown(fd, uid, gid);

    /// <summary>Set mtime (atime := mtime) without following a final symlink; name "" means dirfd itself.</summary>
    public static int LutimesAt(int dirfd, string name, long sec, long nsec)
    {
        var ts = stackalloc Timespec[2];
        ts[0] = new Timespec { Sec = sec, Nsec = nsec };
        ts[1] = ts[0];
        if (name.Length == 0) return utimensat(dirfd, null, ts, 0);
        fixed (byte* p = Z(name)) return utimensat(dirfd, p, ts, AT_SYMLINK_NOFOLLOW);
    }

    public static int LSetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = Z(path)) fixed (byte* n = Z(name)) fixed (byte* v = value)
            return lsetxattr(p, n, v, (nuint)value.Length, 0);
    }

    public static int FSetXattr(int fd, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* n = Z(name)) fixed (byte* v = value)
            return fsetxattr(fd, n, v, (nuint)value.Length, 0);
    }

    public static int Futimens(int fd, long sec, long nsec)
    {
        var ts = new Mono.Unix.Native.Timespec { tv_sec = sec, tv_nsec = nsec };
        return Syscall.futimens(fd, [ts, ts]);
    }

    /// <summary>Names of all xattrs (raw strings) of fd, or of path (not following a final symlink) when fd is -1. Returns errno (0 on success).</summary>
    public static int ListXattr(int fd, string? path, out List<string> names)
    {
        names = new List<string>();
        // One call when the list fits a guess (nearly always), the size query and a second call when it does not.
        var guess = stackalloc byte[XattrGuess];
        fixed (byte* p = Z(path ?? ""))
        {
            var n = fd >= 0 ? flistxattr(fd, guess, XattrGuess) : llistxattr(p, guess, XattrGuess);
            if (n >= 0) { SplitNames(new ReadOnlySpan<byte>(guess, (int)n), names); return 0; }
            while (Errno == ERANGE)
            {
                var size = fd >= 0 ? flistxattr(fd, null, 0) : llistxattr(p, null, 0);
                if (size < 0) break;
                var buf = new byte[size];
                fixed (byte* b = buf) n = fd >= 0 ? flistxattr(fd, b, (nuint)buf.Length) : llistxattr(p, b, (nuint)buf.Length);
                if (n >= 0) { SplitNames(buf.AsSpan(0, (int)n), names); return 0; }
            }
            return Errno;
        }
    }

    const int XattrGuess = 1024;

    static void SplitNames(ReadOnlySpan<byte> list, List<string> names)
    {
        foreach (var range in list.Split((byte)0))
            if (range.End.Value > range.Start.Value) names.Add(Encoding.Latin1.GetString(list[range]));
    }

    /// <summary>Exact bytes of one xattr of fd (or of path when fd is -1). Returns errno (ENODATA when it is gone).</summary>
    public static int GetXattr(int fd, string? path, string name, out byte[] value)
    {
        value = [];
        var guess = stackalloc byte[XattrGuess];
        fixed (byte* p = Z(path ?? "")) fixed (byte* n = Z(name))
        {
            var got = fd >= 0 ? fgetxattr(fd, n, guess, XattrGuess) : lgetxattr(p, n, guess, XattrGuess);
            if (got >= 0) { value = new ReadOnlySpan<byte>(guess, (int)got).ToArray(); return 0; }
            while (Errno == ERANGE) // larger than the guess (an ACL of many entries): ask its size
            {
                var size = fd >= 0 ? fgetxattr(fd, n, null, 0) : lgetxattr(p, n, null, 0);
                if (size < 0) break;
                var buf = new byte[size];
                fixed (byte* b = buf) got = fd >= 0 ? fgetxattr(fd, n, b, (nuint)buf.Length) : lgetxattr(p, n, b, (nuint)buf.Length);
                if (got >= 0) { value = got == size ? buf : buf[..(int)got]; return 0; }
            }
            return Errno;
        }
    }

    /// <summary>Remove one xattr of fd (or of path when fd is -1, not following a final symlink).</summary>
    public static int RemoveXattr(int fd, string? path, string name)
    {
        fixed (byte* p = Z(path ?? "")) fixed (byte* n = Z(name))
            return fd >= 0 ? fremovexattr(fd, n) : lremovexattr(p, n);
    }

    /// <summary>Target of a symlink; null with errno set (EINVAL: not a symlink).</summary>
    public static string? ReadLinkAt(int dirfd, string name)
    {
        var buf = new byte[4097];
        fixed (byte* p = Z(name)) fixed (byte* b = buf)
        {
            var n = readlinkat(dirfd, p, b, (nuint)buf.Length);
            return n < 0 ? null : Encoding.Latin1.GetString(buf, 0, (int)n);
        }
    }

    /// <summary>lstat via statx; name "" stats dirfd itself. Returns errno (0 on success).</summary>
    public static int LStatAt(int dirfd, string name, out FileStat st)
    {
        int rc;
        Linux.Statx x;
        const uint mask = Linux.STATX_BASIC_STATS | Linux.STATX_MNT_ID;
        if (name.Length == 0) { byte empty = 0; rc = Linux.statx(dirfd, &empty, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, mask, out x); }
        else fixed (byte* p = Z(name)) rc = Linux.statx(dirfd, p, AT_SYMLINK_NOFOLLOW, mask, out x);
        if (rc != 0) { st = default; return Errno; }
        st = new FileStat(x.Mode, x.Uid, x.Gid, x.Nlink, x.Ino, x.Size, x.MtimeSec, x.MtimeNsec,
            x.RdevMajor, x.RdevMinor, x.DevMajor, x.DevMinor, x.MountId, x.Blocks);
        return 0;
    }

    /// <summary>
    /// Directory entries (raw names, d_type) of the directory open at fd, from its start; the fd stays open. Returns
    /// errno (0 on success). getdents64 straight on the fd: no dup, fdopendir (fcntl, fstat) and closedir per directory.
    /// </summary>
    public static int ReadDir(int fd, out List<(string Name, byte DType)> entries)
    {
        entries = new List<(string, byte)>();
        if (Syscall.lseek(fd, 0, SeekFlags.SEEK_SET) < 0) return Errno;
        var buf = ArrayPool<byte>.Shared.Rent(DirentBuffer);
        try
        {
            fixed (byte* b = buf)
                while (true)
                {
                    var n = Linux.getdents64(fd, b, (nuint)buf.Length);
                    // A directory removed while open answers ENOENT: the end, as POSIX and glibc's readdir have it.
                    if (n < 0 && Errno == ENOENT) return 0;
                    if (n < 0) return Errno;
                    if (n == 0) return 0;
                    for (long off = 0; off < n; off += *(ushort*)(b + off + Linux.DirentRecLen))
                    {
                        var name = new ReadOnlySpan<byte>(b + off + Linux.DirentName, *(ushort*)(b + off + Linux.DirentRecLen) - Linux.DirentName);
                        name = name[..name.IndexOf((byte)0)];
                        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                        entries.Add((Encoding.Latin1.GetString(name), b[off + Linux.DirentType]));
                    }
                }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    const int DirentBuffer = 64 << 10;
}
