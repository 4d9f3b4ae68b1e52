using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime.Staging;

/// <summary>Removes a staging directory without ever descending into another mount: merged/ shows the image rootfs
/// while its overlay is mounted, so a recursive delete that crossed into it would delete the image. Each directory's
/// mount id is compared with the staging's before it is entered, whatever path spelling reached it.</summary>
internal static class StagingRemoval
{
    public static void Remove(string dir)
    {
        long mount = Linux.MountId(dir);
        if (mount == -Linux.ENOENT) return;
        if (mount < 0) throw new ShimException($"cannot stat staging {dir}: {Linux.Error((int)-mount)}");
        RemoveTree(dir, mount);
    }

    private static void RemoveTree(string dir, long mount)
    {
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo { LinkTarget: null } sub)
            {
                long inner = Linux.MountId(sub.FullName);
                if (inner != mount)
                    throw new ShimException($"staging {dir} still has a mount at {sub.FullName}; not removing it");
                RemoveTree(sub.FullName, mount);
            }
            else
            {
                entry.Delete();
            }
        }
        Directory.Delete(dir);
    }
}
