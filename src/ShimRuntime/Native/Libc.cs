using System.Runtime.InteropServices;

namespace Csshim.ShimRuntime.Native;

/// <summary>The few libc calls csshim needs that .NET does not expose: mounts, process replacement, spawning with
/// the caller's fds intact, and file locks. Thin on purpose: callers turn errno into domain errors.</summary>
internal static unsafe partial class Libc
{
    public const int EINTR = 4, ENOENT = 2, EINVAL = 22, EBUSY = 16, EWOULDBLOCK = 11;
    public const ulong MS_NOSUID = 2, MS_NODEV = 4;
    public const int MNT_DETACH = 2;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    public const int SIGKILL = 9, SIGPIPE = 13;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fstype, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int execv(string path, IntPtr argv);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn(out int pid, string path, IntPtr fileActions, IntPtr attr, IntPtr argv, IntPtr envp);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_init(IntPtr attr);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawn_file_actions_init(IntPtr actions);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawn_file_actions_destroy(IntPtr actions);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawn_file_actions_adddup2(IntPtr actions, int fd, int newfd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addopen(IntPtr actions, int fd, string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addchdir_np(IntPtr actions, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    public const uint MFD_CLOEXEC = 1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_destroy(IntPtr attr);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_setpgroup(IntPtr attr, int pgroup);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_setflags(IntPtr attr, short flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_setsigmask(IntPtr attr, IntPtr sigset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawnattr_setsigdefault(IntPtr attr, IntPtr sigset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigemptyset(IntPtr set);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaddset(IntPtr set, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigprocmask(int how, IntPtr set, IntPtr oldset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial IntPtr signal(int signum, IntPtr handler);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(int fd, int operation);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, out Stat buf);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstat(int fd, out Stat buf);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    /// <summary>open with the path as bytes (NUL-terminated), for a path that came in argv and may not be UTF-8.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    public static partial int open(byte[] path, int flags, int mode);

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_APPEND = 0x400, O_NOCTTY = 0x100, O_TMPFILE = 0x410000, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const uint S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    public const int AT_FDCWD = -100, AT_SYMLINK_FOLLOW = 0x400;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, int uid, int gid);

    /// <summary>glibc's struct stat as laid out on x86_64 (aarch64 differs); csshim is built for linux-x64.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stat
    {
        public ulong Dev, Ino, Nlink;
        public uint Mode, Uid, Gid;
        private readonly int pad0;
        public ulong Rdev;
        public long Size, Blksize, Blocks;
        public long AtimeSec, AtimeNsec, MtimeSec, MtimeNsec, CtimeSec, CtimeNsec;
        private readonly long reserved0, reserved1, reserved2;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc")]
    private static partial void free(IntPtr p);

    /// <summary>The canonical path with every symlink resolved, or null when it does not exist.</summary>
    public static string? RealPath(string path)
    {
        var p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); } finally { free(p); }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint lgetxattr(string path, string name, byte[]? value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    public const int ENODATA = 61, ENOTDIR = 20, ELOOP = 40;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buf);

    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const uint STATX_MNT_ID = 0x1000;

    /// <summary>The mount id of the mount holding path (not following a final symlink), or errno as a negative value.</summary>
    public static unsafe long MountId(string path)
    {
        var buf = stackalloc byte[256];
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, buf) != 0) return -LastErrno;
        return (long)*(ulong*)(buf + 144); // struct statx: stx_mnt_id follows the 144 bytes of the base fields
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getpgrp();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int tcgetpgrp(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int raise(int signal);

    public static string Error(int errno) => Marshal.GetPInvokeErrorMessage(errno);
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>The process environment as libc holds it (what a spawned child should inherit).</summary>
    public static IntPtr Environ()
    {
        var lib = NativeLibrary.Load("libc.so.6");
        return Marshal.ReadIntPtr(NativeLibrary.GetExport(lib, "environ"));
    }
}
