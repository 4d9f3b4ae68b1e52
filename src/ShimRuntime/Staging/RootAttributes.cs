using Mono.Unix.Native;
using Csshim.TarLayer;
using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime.Staging;

/// <summary>The attributes of a rootfs's root directory carried from one directory to another. overlayfs shows the
/// upper root's owner, mode and xattrs as the container's `/`, never merged from a lower: the image's root, or the
/// archive's "./" entry when a cached layer carries it, must be given to the upper root itself.</summary>
internal static class RootAttributes
{
    /// <param name="withXattrs">Also the xattrs (ACLs included), but not overlayfs's own nor csshim's markers.</param>
    public static void Copy(string from, string to, bool withXattrs)
    {
        if (Syscall.stat(from, out var st) != 0)
            throw new ShimException($"cannot stat {from}: {Linux.Error(Linux.LastErrno)}");
        if (Syscall.chown(to, st.st_uid, st.st_gid) != 0)
            throw new ShimException($"cannot chown {to}: {Linux.Error(Linux.LastErrno)}");
        if (Syscall.chmod(to, (FilePermissions)((uint)st.st_mode & 0xFFF)) != 0)
            throw new ShimException($"cannot chmod {to}: {Linux.Error(Linux.LastErrno)}");
        if (!withXattrs) return;
        if (Syscall.llistxattr(from, out string[] names) < 0)
            throw new ShimException($"cannot list the xattrs of {from}: {Linux.Error(Linux.LastErrno)}");
        foreach (var name in names.Where(n => !n.StartsWith("trusted.overlay.", StringComparison.Ordinal)
                                              && !n.StartsWith(UpperArchive.PrivateXattrPrefix, StringComparison.Ordinal)))
        {
            if (Syscall.lgetxattr(from, name, out byte[] value) < 0 || Syscall.lsetxattr(to, name, value) != 0)
                throw new ShimException($"cannot copy xattr {name} from {from} to {to}: {Linux.Error(Linux.LastErrno)}");
        }
    }
}
