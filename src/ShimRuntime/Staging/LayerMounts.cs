using Csshim.TarLayer.Posix;
using Csshim.ShimRuntime.Settings;

namespace Csshim.ShimRuntime.Staging;

/// <summary>The two mounts of a tmpfs staging: a tmpfs capped in bytes and inodes holding upper/work, and the overlay on merged/.</summary>
internal static class LayerMounts
{
    /// <summary>UpperCaps refused anything but a tmpfs size, so nothing but size and nr_inodes reaches the option string.</summary>
    public static void MountLayerTmpfs(string target, UpperCaps caps) =>
        Mount("tmpfs", target, "tmpfs", Linux.MS_NOSUID | Linux.MS_NODEV, $"mode=0700,size={caps.Size},nr_inodes={caps.Inodes}");

    /// <summary>Redirects, the inode index and metacopy are off whatever the host's module defaults: each would put
    /// overlay-private references into the upper that mean nothing once it is archived and restored elsewhere.</summary>
    /// <param name="lowers">Topmost first.</param>
    public static void MountOverlay(IReadOnlyList<string> lowers, string upper, string work, string target) =>
        Mount("overlay", target, "overlay", 0,
            $"lowerdir={string.Join(':', lowers.Select(Escape))},upperdir={Escape(upper)},workdir={Escape(work)},redirect_dir=off,index=off,metacopy=off");

    /// <summary>Unmount if mounted; a busy mount (a straggling process of the container) is detached instead.</summary>
    public static void Unmount(string target)
    {
        if (Linux.umount2(target, 0) == 0) return;
        int errno = Linux.LastErrno;
        if (errno == Linux.EINVAL || errno == Linux.ENOENT) return; // not a mount point (any more)
        if (errno == Linux.EBUSY && Linux.umount2(target, Linux.MNT_DETACH) == 0) return;
        throw new ShimException($"cannot unmount {target}: {Linux.Error(Linux.LastErrno)}");
    }

    private static void Mount(string source, string target, string fstype, ulong flags, string data)
    {
        if (Linux.mount(source, target, fstype, flags, data) != 0)
            throw new ShimException($"cannot mount {fstype} on {target}: {Linux.Error(Linux.LastErrno)}");
    }

    /// <summary>overlayfs splits its options on ',' and lowerdir on ':'; both are escaped with a backslash.</summary>
    private static string Escape(string path) => path.Replace("\\", "\\\\").Replace(",", "\\,").Replace(":", "\\:");
}
