using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Staging;

/// <summary>flock on a lock file that may be removed by its holder: a waiter that gets the lock of a file that is gone
/// locks the new one instead (the holder removes the file only while holding it).</summary>
internal sealed class FileLock : IDisposable
{
    private readonly SafeFileHandle handle;

    private FileLock(SafeFileHandle handle) => this.handle = handle;

    public static FileLock Exclusive(string path) => Take(path, Linux.LOCK_EX)!;
    public static FileLock Shared(string path) => Take(path, Linux.LOCK_SH)!;
    /// <summary>Null when someone else holds the lock.</summary>
    public static FileLock? TryExclusive(string path) => Take(path, Linux.LOCK_EX | Linux.LOCK_NB);

    private static FileLock? Take(string path, int operation)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            // libc open, not File.OpenHandle: .NET puts its own flock on files it opens, which would fight ours.
            int fd = Linux.Open(path, Linux.O_RDWR | Linux.O_CREAT, 0x180 /* 0600 */);
            if (fd < 0) throw new ShimException($"cannot open lock {path}: {Linux.Error(Linux.LastErrno)}");
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (Linux.flock(fd, operation) != 0)
            {
                int errno = Linux.LastErrno;
                handle.Dispose();
                if (errno == Linux.EINTR) continue;
                if (errno == Linux.EWOULDBLOCK) return null;
                throw new ShimException($"cannot lock {path}: {Linux.Error(errno)}");
            }
            // The holder may have removed the file while we waited: then this lock guards nothing.
            if (Syscall.fstat(fd, out var held) == 0 && Syscall.stat(path, out var current) == 0 && held.st_ino == current.st_ino)
                return new FileLock(handle);
            handle.Dispose();
        }
    }

    public void Dispose() => handle.Dispose();
}
