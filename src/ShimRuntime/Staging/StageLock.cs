using Csshim.ShimRuntime.Native;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Staging;

/// <summary>flock on a container's lock file beside its staging: snapshots share it, staging and unstaging take it
/// alone, so a delete never unmounts under a running snapshot and two creates of one id never stage together.
/// The file lives outside the staging so that it can be held while the staging is made and removed.</summary>
internal sealed class StageLock : IDisposable
{
    private readonly SafeFileHandle handle;

    private StageLock(SafeFileHandle handle) => this.handle = handle;

    public static StageLock Exclusive(ContainerStage stage) => Take(stage, Libc.LOCK_EX)!;
    public static StageLock Shared(ContainerStage stage) => Take(stage, Libc.LOCK_SH)!;
    /// <summary>Null when someone else holds the lock (a create, snapshot or delete in progress).</summary>
    public static StageLock? TryExclusive(ContainerStage stage) => Take(stage, Libc.LOCK_EX | Libc.LOCK_NB);

    /// <summary>Remove the lock file while holding it: waiters notice the file is gone and lock the next one.</summary>
    public static void RemoveFile(ContainerStage stage) => File.Delete(stage.LockFile);

    private static StageLock? Take(ContainerStage stage, int operation)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(stage.LockFile)!);
        while (true)
        {
            // libc open, not File.OpenHandle: .NET puts its own flock on files it opens, which would fight ours.
            int fd = Libc.open(stage.LockFile, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0x180 /* 0600 */);
            if (fd < 0) throw new ShimException($"cannot open lock {stage.LockFile}: {Libc.Error(Libc.LastErrno)}");
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (Libc.flock(fd, operation) != 0)
            {
                int errno = Libc.LastErrno;
                handle.Dispose();
                if (errno == Libc.EINTR) continue;
                if (errno == Libc.EWOULDBLOCK) return null;
                throw new ShimException($"cannot lock {stage.LockFile}: {Libc.Error(errno)}");
            }
            // The holder may have removed the file while we waited: then this lock guards nothing.
            if (Libc.fstat(fd, out var held) == 0 && Libc.stat(stage.LockFile, out var current) == 0 && held.Ino == current.Ino)
                return new StageLock(handle);
            handle.Dispose();
        }
    }

    public void Dispose() => handle.Dispose();
}
