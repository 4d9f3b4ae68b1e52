using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using Csshim.ShimRuntime.Settings;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>csshim's own upper for a rootfs that is a plain directory (or for every rootfs with `upper: tmpfs`): a
/// tmpfs capped in bytes and inodes, the archive restored into it as an overlay upper, an overlay of it over the
/// image rootfs on merged/, which becomes root.path. The container's writes live in RAM and go with the staging.</summary>
internal static class TmpfsLayer
{
    public static void Make(ContainerStage stage, string lower, ArchiveSource? archive, Invocation invocation)
    {
        Directory.CreateDirectory(stage.Layer);
        LayerMounts.MountLayerTmpfs(stage.Layer, invocation.UpperCaps);
        FaultPoint.Reach("tmpfs-mounted");
        Directory.CreateDirectory(stage.Work);
        Directory.CreateDirectory(stage.Upper);
        CopyRootAttributes(lower, stage.Upper);
        if (archive is not null) Restore(archive, stage, invocation);
        Directory.CreateDirectory(stage.Merged);
        LayerMounts.MountOverlay(lower, stage.Upper, stage.Work, stage.Merged);
        FaultPoint.Reach("overlay-mounted");
    }

    /// <summary>Unmount merged first (the overlay holds the tmpfs busy), then the layer; either may not be mounted
    /// (a half-made or in-place staging). Asking umount2 is cheaper than reading mountinfo, which grows with the host's
    /// mounts; anything else mounted below the staging is caught by <see cref="StagingRemoval"/>, which never crosses it.</summary>
    public static void Unmount(ContainerStage stage)
    {
        LayerMounts.Unmount(stage.Merged);
        LayerMounts.Unmount(stage.Layer);
    }

    private static void Restore(ArchiveSource archive, ContainerStage stage, Invocation invocation)
    {
        // Entries only: the tmpfs itself caps bytes and inodes.
        var budget = new ExtractOptions { MaxEntries = invocation.MaxEntries };
        ArchiveErrors.Wrap(archive, () =>
        {
            try
            {
                UpperArchive.Extract(FaultPoint.Wrap(archive.Stream, "extracting"), stage.Upper, budget);
            }
            catch (LayerFullException full)
            {
                throw new LayerFullException($"{full.Message}; {WhichCap(full, invocation.UpperCaps)}", full.Operation, full);
            }
            archive.VerifyDigest();
        });
    }

    /// <summary>tmpfs says ENOSPC for both caps; name the one that was reached: data needs bytes, a new node an inode.</summary>
    private static string WhichCap(LayerFullException full, UpperCaps caps) =>
        full.Operation != "write"
            ? $"the upper's inode cap of {caps.Inodes} is reached (--shim-upper-inodes, config \"upperInodes\")"
            : $"the upper's size cap of {caps.Size} is reached (--shim-upper-size, config \"upperSize\")";

    /// <summary>overlayfs shows the upper root's owner and mode as the container's /: it must be the image's.</summary>
    private static void CopyRootAttributes(string lower, string upper)
    {
        if (Syscall.stat(lower, out var st) != 0)
            throw new ShimException($"cannot stat rootfs {lower}: {Linux.Error(Linux.LastErrno)}");
        if (Syscall.chown(upper, st.st_uid, st.st_gid) != 0)
            throw new ShimException($"cannot chown {upper}: {Linux.Error(Linux.LastErrno)}");
        File.SetUnixFileMode(upper, (UnixFileMode)((uint)st.st_mode & 0xFFF));
    }
}

/// <summary>An archive the restore refused, or an I/O failure during it, as csshim's error naming the archive.</summary>
internal static class ArchiveErrors
{
    public static void Wrap(ArchiveSource archive, Action restore)
    {
        try
        {
            restore();
        }
        catch (Exception e) when (e is ArchiveRejectedException or IOException)
        {
            throw new ShimException($"rootfs upper archive {archive.RequestedPath}: {e.Message}", inner: e);
        }
    }
}
