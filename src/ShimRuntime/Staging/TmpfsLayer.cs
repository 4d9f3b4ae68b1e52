using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using Csshim.ShimRuntime.Settings;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>csshim's own upper for a rootfs that is a plain directory (or for every rootfs with `upper: tmpfs`): a
/// tmpfs capped in bytes and inodes, an overlay of it over the image rootfs on merged/, which becomes root.path. The
/// archive is either the cached layer between the two (restore mode "layer": shared by every container of that
/// archive, on disk, nothing copied) or restored into the tmpfs upper (mode "copy"). The container's writes live in
/// RAM and go with the staging.</summary>
internal static class TmpfsLayer
{
    /// <returns>The cached layer stacked under the upper, or null.</returns>
    public static string? Make(ContainerStage stage, string lower, ArchiveSource? archive, Invocation invocation)
    {
        var cached = archive is not null && invocation.RestoreMode == RestoreMode.Layer ? Cached(stage, archive, invocation) : null;
        Directory.CreateDirectory(stage.Layer);
        LayerMounts.MountLayerTmpfs(stage.Layer, invocation.UpperCaps);
        FaultPoint.Reach("tmpfs-mounted");
        Directory.CreateDirectory(stage.Work);
        Directory.CreateDirectory(stage.Upper);
        // overlayfs shows the upper root's owner and mode as the container's /: the image's, or the archive's own.
        RootAttributes.Copy(lower, stage.Upper, withXattrs: false);
        if (cached is { HasRoot: true }) RootAttributes.Copy(cached.LayerDir, stage.Upper, withXattrs: true);
        if (cached is null && archive is not null) Restore(archive, stage, invocation);
        Directory.CreateDirectory(stage.Merged);
        LayerMounts.MountOverlay(cached is null ? [lower] : [cached.LayerDir, lower], stage.Upper, stage.Work, stage.Merged);
        FaultPoint.Reach("overlay-mounted");
        return cached?.LayerDir;
    }

    /// <summary>Unmount merged first (the overlay holds the tmpfs busy), then the layer; either may not be mounted
    /// (a half-made or in-place staging). Asking umount2 is cheaper than reading mountinfo, which grows with the host's
    /// mounts; anything else mounted below the staging is caught by <see cref="StagingRemoval"/>, which never crosses it.</summary>
    public static void Unmount(ContainerStage stage)
    {
        LayerMounts.Unmount(stage.Merged);
        LayerMounts.Unmount(stage.Layer);
    }

    /// <summary>The archive's cached layer, under the caps a copy into this tmpfs would meet: its bytes, and its inodes
    /// as an entry budget (the cached layer is on disk, but a container must not reach through it what its own upper
    /// would refuse).</summary>
    private static CachedLayer Cached(ContainerStage stage, ArchiveSource archive, Invocation invocation)
    {
        var caps = invocation.UpperCaps;
        var budget = ArchivePolicy.Budget(invocation) with { MaxEntries = Math.Min(invocation.MaxEntries, caps.Inodes) };
        return ArchiveErrors.Wrap(archive, () =>
        {
            try
            {
                return new LayerCache(invocation.CacheDir).Obtain(archive, budget, LayerReference.ForStaging(stage));
            }
            catch (ArchiveRejectedException refused) when (CapOf(refused, budget, invocation) is { } cap)
            {
                throw new ArchiveRejectedException($"{refused.Message}; {cap}", refused);
            }
        });
    }

    /// <summary>The tmpfs cap behind a budget the cached layer's build ran into, named as a copy would name it.</summary>
    private static string? CapOf(ArchiveRejectedException refused, ExtractOptions budget, Invocation invocation) =>
        refused.Message.Contains("byte budget") ? WhichCap("write", invocation.UpperCaps)
        : refused.Message.Contains("entry budget") && budget.MaxEntries < invocation.MaxEntries ? WhichCap("create", invocation.UpperCaps)
        : null;

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
                throw new LayerFullException($"{full.Message}; {WhichCap(full.Operation, invocation.UpperCaps)}", full.Operation, full);
            }
            archive.VerifyDigest();
        });
    }

    /// <summary>tmpfs says ENOSPC for both caps; name the one that was reached: data needs bytes, a new node an inode.</summary>
    private static string WhichCap(string operation, UpperCaps caps) =>
        operation != "write"
            ? $"the upper's inode cap of {caps.Inodes} is reached (--shim-upper-inodes, config \"upperInodes\")"
            : $"the upper's size cap of {caps.Size} is reached (--shim-upper-size, config \"upperSize\")";
}

/// <summary>An archive the restore refused, or an I/O failure during it, as csshim's error naming the archive.</summary>
internal static class ArchiveErrors
{
    public static void Wrap(ArchiveSource archive, Action restore) => Wrap(archive, () =>
    {
        restore();
        return true;
    });

    public static T Wrap<T>(ArchiveSource archive, Func<T> restore)
    {
        try
        {
            return restore();
        }
        catch (Exception e) when (e is ArchiveRejectedException or IOException)
        {
            throw new ShimException($"rootfs upper archive {archive.RequestedPath}: {e.Message}", inner: e);
        }
    }
}
