using System.Runtime.InteropServices;

namespace Csshim.TarLayer.Posix;

/// <summary>
/// The Linux (glibc) calls Mono.Posix does not provide, bound by hand: mounts, openat2, statx (the mount id),
/// copy_file_range, splice, getdents64, O_TMPFILE, process spawning and replacement with raw argv, memfd,
/// flock, signal masks. Everything else goes through Mono.Unix.Native (see README.md, "The POSIX layer").
/// Layouts are written out for the two architectures csshim ships for, x86_64 and arm64 (both LP64 glibc); the few
/// values that differ between them are chosen at start-up, and any other architecture is refused there.
/// </summary>
public static unsafe partial class Linux
{
    static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => false,
        Architecture.Arm64 => true,
        var other => throw new PlatformNotSupportedException($"csshim's hand-bound layouts are for x86_64 and arm64, not {other}"),
    };

    // open(2) flags. Most are the same everywhere; O_DIRECTORY and O_NOFOLLOW are not: x86_64 has asm-generic's
    // fcntl.h values (0200000, 0400000), arm64 its own (040000, 0100000).
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_NONBLOCK = 0x800, O_NOATIME = 0x40000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public static readonly int O_DIRECTORY = Arm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = Arm64 ? 0x8000 : 0x20000;
    /// <summary>__O_TMPFILE (020000000) | O_DIRECTORY, as glibc defines it.</summary>
    public static readonly int O_TMPFILE = 0x400000 | O_DIRECTORY;

    // The *at flags, mount flags, resolve flags, errno and signal numbers used here are the same on both (generic).
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400,
        AT_EMPTY_PATH = 0x1000;
    public const ulong MS_NOSUID = 2, MS_NODEV = 4;
    public const int MNT_DETACH = 2;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    public const uint MFD_CLOEXEC = 1;
    public const int O_APPEND = 0x400;
    // errno (asm-generic) and signal numbers csshim reacts to: the same on x86_64 and arm64.
    public const int ENOENT = 2, EINTR = 4, EWOULDBLOCK = 11, EBUSY = 16, EINVAL = 22, ENODATA = 61;
    public const int SIGKILL = 9, SIGPIPE = 13;
    public const int F_DUPFD_CLOEXEC = 1030;
    public const short POLLIN = 1;

    public static int LastErrno => Marshal.GetLastPInvokeError();
    public static string Error(int errno) => Marshal.GetPInvokeErrorMessage(errno);
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;

    /// <summary>glibc's sigset_t: 1024 bits on every Linux architecture.</summary>
    public const int SigsetBytes = 128;
    /// <summary>glibc's posix_spawnattr_t on LP64 (short flags, pid, two sigsets, sched_param, policy, 16 ints of pad).</summary>
    public const int SpawnAttrBytes = 336;
    /// <summary>glibc's posix_spawn_file_actions_t on LP64 (two ints, a pointer, 16 ints of pad).</summary>
    public const int SpawnFileActionsBytes = 80;

    /// <summary>
    /// struct statx (include/uapi/linux/stat.h): one layout on every architecture, 256 bytes. Only the fields csshim
    /// reads are named; stx_mnt_id (5.8) follows the device numbers.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(16)] public uint Nlink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public long Size;
        [FieldOffset(48)] public ulong Blocks;
        [FieldOffset(112)] public long MtimeSec;      // struct statx_timestamp stx_mtime: i64 sec, u32 nsec, i32 pad
        [FieldOffset(120)] public uint MtimeNsec;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
        [FieldOffset(144)] public ulong MountId;
    }
    public const uint STATX_BASIC_STATS = 0x7ff, STATX_MNT_ID = 0x1000;

    /// <summary>struct open_how (include/uapi/linux/openat2.h): three u64, 24 bytes, on every architecture.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow { public ulong Flags, Mode, Resolve; }
    /// <summary>openat2 has one number on every architecture (the unified table from 424 on).</summary>
    const long SYS_openat2 = 437;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int statx(int dirfd, byte* path, int flags, uint mask, out Statx buf);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_openat2(long number, int dirfd, byte* path, OpenHow* how, nuint size);

    /// <summary>openat2(2) (no glibc wrapper); -1 with errno set, ENOSYS where the kernel lacks it.</summary>
    public static int openat2(int dirfd, byte* path, in OpenHow how)
    {
        fixed (OpenHow* h = &how) return (int)syscall_openat2(SYS_openat2, dirfd, path, h, (nuint)sizeof(OpenHow));
    }

    /// <summary>copy_file_range(2): null offsets use and advance the file offsets.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    /// <summary>splice(2) between a file and a pipe, with the file's offset given (Mono has only sendfile).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    /// <summary>pipe2(2) into a two-int array; Mono's pipe has no flags.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    /// <summary>getdents64(2) (glibc 2.30): raw directory entries, names as bytes (Mono's readdir decodes them).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint getdents64(int fd, byte* buf, nuint count);
    /// <summary>struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, then the name; one layout everywhere.</summary>
    public const int DirentRecLen = 16, DirentType = 18, DirentName = 19;

    /// <summary>An unnamed file in a directory (O_TMPFILE, which Mono's OpenFlags lacks), linked later by linkat.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open_mode(string path, int flags, uint mode);

    public static int OpenTmpFile(string directory, int accessFlags, uint mode) =>
        open_mode(directory, O_TMPFILE | accessFlags | O_CLOEXEC, mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fstype, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    /// <summary>execv with argv as a NULL-terminated array of byte strings (forwarded exactly, not re-encoded).</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int execv(string path, IntPtr argv);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn(out int pid, string path, IntPtr fileActions, IntPtr attr, IntPtr argv, IntPtr envp);

    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_init(IntPtr attr);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_destroy(IntPtr attr);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_setflags(IntPtr attr, short flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_setpgroup(IntPtr attr, int pgroup);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_setsigmask(IntPtr attr, IntPtr sigset);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawnattr_setsigdefault(IntPtr attr, IntPtr sigset);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawn_file_actions_init(IntPtr actions);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawn_file_actions_destroy(IntPtr actions);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_spawn_file_actions_adddup2(IntPtr actions, int fd, int newfd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addopen(IntPtr actions, int fd, string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addchdir_np(IntPtr actions, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)] public static partial int flock(int fd, int operation);

    /// <summary>syncfs(2): write back the filesystem holding fd (one call for a whole extracted tree).</summary>
    [LibraryImport("libc", SetLastError = true)] public static partial int syncfs(int fd);

    /// <summary>open(2) with the path as bytes: a path that came in argv may not be UTF-8, and Mono's UnixEncoding
    /// does not give every byte string back (see Fs).</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    public static partial int open_bytes(byte* path, int flags, uint mode);

    /// <summary>open(2) of a path given as text, encoded as UTF-8 exactly (no UnixEncoding escapes) and, when it came
    /// from argv, with its undecodable bytes as they were (surrogate-escaped U+DC80..U+DCFF back to bytes).</summary>
    public static int Open(ReadOnlySpan<byte> pathWithoutNul, int flags, uint mode)
    {
        var z = new byte[pathWithoutNul.Length + 1];
        pathWithoutNul.CopyTo(z);
        fixed (byte* p = z) return open_bytes(p, flags | O_CLOEXEC, mode);
    }

    public static int Open(string path, int flags, uint mode) => Open(System.Text.Encoding.UTF8.GetBytes(path), flags, mode);

    /// <summary>fcntl(2) with an int argument (F_DUPFD_CLOEXEC, which Mono's FcntlCommand lacks).</summary>
    [LibraryImport("libc", SetLastError = true)] public static partial int fcntl(int fd, int cmd, int arg);

    // pidfds (5.3 / 5.6): a process held so that a reused pid is never signalled or read from; glibc 2.36 wraps them.
    [LibraryImport("libc", SetLastError = true)] public static partial int pidfd_open(int pid, uint flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int pidfd_getfd(int pidfd, int targetfd, uint flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int pidfd_send_signal(int pidfd, int sig, IntPtr info, uint flags);

    [LibraryImport("libc", SetLastError = true)] public static partial int sigemptyset(IntPtr set);
    [LibraryImport("libc", SetLastError = true)] public static partial int sigaddset(IntPtr set, int signal);
    [LibraryImport("libc", SetLastError = true)] public static partial int sigprocmask(int how, IntPtr set, IntPtr oldset);
    /// <summary>signal(2) with a raw handler (IntPtr.Zero is SIG_DFL); Mono's Stdlib.signal wraps managed delegates.</summary>
    [LibraryImport("libc", SetLastError = true)] public static partial IntPtr signal(int signum, IntPtr handler);
    [LibraryImport("libc", SetLastError = true)] public static partial int raise(int signal);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc")] private static partial void free(IntPtr p);

    /// <summary>realpath(3): the canonical path with every symlink resolved, or null when it does not exist.</summary>
    public static string? RealPath(string path)
    {
        var p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { free(p); }
    }

    /// <summary>The mount id of the mount holding path (not following a final symlink), or -errno.</summary>
    public static long MountId(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
            return statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, out var st) == 0 ? (long)st.MountId : -Marshal.GetLastPInvokeError();
    }

    /// <summary>The process environment as libc holds it (what a spawned child should inherit).</summary>
    public static IntPtr Environ()
    {
        var lib = NativeLibrary.Load("libc.so.6");
        return Marshal.ReadIntPtr(NativeLibrary.GetExport(lib, "environ"));
    }
}
