using System.Text.RegularExpressions;
using Csshim.ShimRuntime.Native;

namespace Csshim.ShimRuntime.Staging;

/// <summary>The two mounts of a staged rootfs: a size-capped tmpfs holding upper/work, and the overlay on merged/.</summary>
internal static partial class Mounts
{
    [GeneratedRegex(@"^[0-9]+[kKmMgG%]?$")]
    private static partial Regex SizePattern();

    public static void MountLayerTmpfs(string target, string size)
    {
        // The size goes into the mount option string, so anything but a tmpfs size would be option injection.
        if (!SizePattern().IsMatch(size))
            throw new ShimException($"invalid upper size \"{size}\": give bytes with an optional k, m, g or % suffix (e.g. 2g, 50%)");
        Mount("tmpfs", target, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, $"mode=0700,size={size}");
    }

    /// <summary>Redirects, the inode index and metacopy are off whatever the host's module defaults: each would put
    /// overlay-private references into the upper that mean nothing once it is archived and restored elsewhere.</summary>
    public static void MountOverlay(string lower, string upper, string work, string target) =>
        Mount("overlay", target, "overlay", 0,
            $"lowerdir={Escape(lower)},upperdir={Escape(upper)},workdir={Escape(work)},redirect_dir=off,index=off,metacopy=off");

    /// <summary>Unmount if mounted; a busy mount (a straggling process of the container) is detached instead.</summary>
    public static void Unmount(string target)
    {
        if (Libc.umount2(target, 0) == 0) return;
        int errno = Libc.LastErrno;
        if (errno == Libc.EINVAL || errno == Libc.ENOENT) return; // not a mount point (any more)
        if (errno == Libc.EBUSY && Libc.umount2(target, Libc.MNT_DETACH) == 0) return;
        throw new ShimException($"cannot unmount {target}: {Libc.Error(Libc.LastErrno)}");
    }

    private static void Mount(string source, string target, string fstype, ulong flags, string data)
    {
        if (Libc.mount(source, target, fstype, flags, data) != 0)
            throw new ShimException($"cannot mount {fstype} on {target}: {Libc.Error(Libc.LastErrno)}");
    }

    /// <summary>overlayfs splits its options on ',' and lowerdir on ':'; both are escaped with a backslash.</summary>
    private static string Escape(string path) => path.Replace("\\", "\\\\").Replace(",", "\\,").Replace(":", "\\:");
}
