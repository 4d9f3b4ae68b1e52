namespace Csshim.ShimRuntime.Staging;

/// <summary>The lock of a container, a file beside its staging: snapshots share it, staging and unstaging take it
/// alone, so a delete never unmounts under a running snapshot and two creates of one id never stage together.
/// The file lives outside the staging so that it can be held while the staging is made and removed.</summary>
internal static class StageLock
{
    public static FileLock Exclusive(ContainerStage stage) => FileLock.Exclusive(stage.LockFile);
    public static FileLock Shared(ContainerStage stage) => FileLock.Shared(stage.LockFile);
    /// <summary>Null when someone else holds the lock (a create, snapshot or delete in progress).</summary>
    public static FileLock? TryExclusive(ContainerStage stage) => FileLock.TryExclusive(stage.LockFile);

    /// <summary>Remove the lock file while holding it: waiters notice the file is gone and lock the next one.</summary>
    public static void RemoveFile(ContainerStage stage) => File.Delete(stage.LockFile);
}
