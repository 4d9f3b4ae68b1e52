using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Staging;

/// <summary>flock on a container's lock file beside its staging: snapshots share it, staging and unstaging take it
/// alone, so a delete never unmounts under a running snapshot and two creates of one id never stage together.
/// The file lives outside the staging so that it can be held while the staging is made and removed.</summary>
internal sealed class StageLock : IDisposable
{
    private readonly SafeFileHandle handle;

    private StageLock(SafeFileHandle handle) => this.handle = handle;

    public static StageLock Exclusive(ContainerStage stage) => Take(stage, Linux.LOCK_EX)!;
    public static StageLock Shared(ContainerStage stage) => Take(stage, Linux.LOCK_SH)!;
    /// <summary>Null when someone else holds the lock (a create, snapshot or delete in progress).</summary>
    public static StageLock? TryExclusive(ContainerStage stage) => Take(stage, Linux.LOCK_EX | Linux.LOCK_NB);

    /// <summary>Remove the lock file while holding it: waiters notice the file is gone and lock the next one.</summary>
    public static void RemoveFile(ContainerStage stage) => File.Delete(stage.LockFile);

    private static StageLock? Take(ContainerStage stage, int operation)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(stage.LockFile)!);
        while (true)
        {
            // libc open, not File.OpenHandle: .NET puts its own flock on files it opens, which would fight ours.
            int fd = Linux.Open(stage.LockFile, Linux.O_RDWR | Linux.O_CREAT, 0x180 /* 0600 */);
            if (fd < 0) throw new ShimException($"cannot open lock {stage.LockFile}: {Linux.Error(Linux.LastErrno)}");
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (Linux.flock(fd, operation) != 0)
            {
                int errno = Linux.LastErrno;
                handle.Dispose();
                if (errno == Linux.EINTR) continue;
                if (errno == Linux.EWOULDBLOCK) return null;
                throw new ShimException($"cannot lock {stage.LockFile}: {Linux.Error(errno)}");
            }
            // The holder may have removed the file while we waited: then this lock guards nothing.
            if (Syscall.fstat(fd, out var held) == 0 && Syscall.stat(stage.LockFile, out var current) == 0 && held.st_ino == current.st_ino)
                return new StageLock(handle);
            handle.Dispose();
        }
    }

    public void Dispose() => handle.Dispose();
}
