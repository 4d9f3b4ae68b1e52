using Csshim.ShimRuntime.Native;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Staging;

/// <summary>flock on a container's staging: snapshots share it, staging and unstaging take it alone, so a delete
/// never unmounts under a running snapshot.</summary>
internal sealed class StageLock : IDisposable
{
    private readonly SafeFileHandle handle;

    private StageLock(SafeFileHandle handle) => this.handle = handle;

    public static StageLock Exclusive(ContainerStage stage) => Take(stage, Libc.LOCK_EX);
    public static StageLock Shared(ContainerStage stage) => Take(stage, Libc.LOCK_SH);

    /// <summary>Null when someone else holds the lock (a create or delete in progress).</summary>
    public static StageLock? TryExclusive(ContainerStage stage)
    {
        var handle = File.OpenHandle(stage.LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (Libc.flock((int)handle.DangerousGetHandle(), Libc.LOCK_EX | Libc.LOCK_NB) == 0) return new StageLock(handle);
        handle.Dispose();
        return null;
    }

    private static StageLock Take(ContainerStage stage, int operation)
    {
        var handle = File.OpenHandle(stage.LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        while (Libc.flock((int)handle.DangerousGetHandle(), operation) != 0)
        {
            if (Libc.LastErrno == Libc.EINTR) continue;
            var reason = Libc.Error(Libc.LastErrno);
            handle.Dispose();
            throw new ShimException($"cannot lock {stage.LockFile}: {reason}");
        }
        return new StageLock(handle);
    }

    public void Dispose() => handle.Dispose();
}
