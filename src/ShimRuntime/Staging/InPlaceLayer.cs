using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using System.Text;
using Csshim.ShimRuntime.Settings;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// The archive brought into the engine's mounted rootfs itself (see <see cref="EngineLayer"/>), in one of two ways:
/// stacked (restore mode "layer": the engine's overlay mounted again with the cached layer of the archive as its
/// topmost lower, <see cref="EngineStack"/>) or copied (mode "copy": restored through the mounted rootfs, nothing
/// mounted). A marker xattr on the layer's root (`trusted.csshim.restore`, never written into snapshots nor restored
/// from archives) records which, because the layer outlives csshim's state: a re-create of the same container
/// (`docker restart`, a reboot with a restart policy) must stack the same cached layer again, or must not apply the
/// archive again over the container's later changes. "layer KEY" once stacked; "partial" while copying, "done"
/// after: a copy that was killed halfway is completed by the next create (applying an archive is idempotent), never
/// handed to the runtime half done.
/// </summary>
internal static class InPlaceLayer
{
    public const string MarkerXattr = UpperArchive.PrivateXattrPrefix + "restore";
    private const string Partial = "partial", Done = "done", Stacked = "layer ";

    /// <returns>The cached layer stacked into the rootfs, or null when none is (copied, or no archive).</returns>
    public static string? Make(ContainerStage stage, EngineLayer layer, ArchiveSource? archive, Invocation invocation, ShimLog log)
    {
        var state = ReadMarker(layer.Rootfs);
        if (state == Done) return null;
        if (state?.StartsWith(Stacked, StringComparison.Ordinal) == true)
            return Restack(stage, layer, state[Stacked.Length..], archive, invocation);
        if (archive is null)
        {
            if (state == Partial)
                throw new ShimException($"rootfs {layer.Rootfs} of container \"{stage.Id}\" holds an interrupted restore, and its spec names no archive to complete it");
            return null;
        }
        var cache = new LayerCache(invocation.CacheDir);
        if (invocation.RestoreMode == RestoreMode.Layer && state is null)
        {
            if (EngineStack.WhyNot(layer.Mount!, cache.LayerDir(LayerCache.KeyOf(archive))) is not { } reason)
                return Stack(layer, archive, invocation, cache);
            log.Warning($"rootfs {layer.Rootfs} of container \"{stage.Id}\": the engine's overlay cannot be mounted again with the cached layer ({reason}); copying the archive into it instead");
        }
        Copy(layer, archive, invocation);
        return null;
    }

    /// <summary>First start: the cached layer (built now if needed) stacked, the archive's root attributes given to
    /// the container's root, then the marker; a crash before the marker is redone whole by the next create.</summary>
    private static string Stack(EngineLayer layer, ArchiveSource archive, Invocation invocation, LayerCache cache)
    {
        var cached = ArchiveErrors.Wrap(archive, () =>
            cache.Obtain(archive, ArchivePolicy.Budget(invocation), LayerReference.ForEngineLayer(layer.UpperDir)));
        if (!EngineStack.IsStacked(layer.Mount!, cached.LayerDir)) EngineStack.Stack(layer.Mount!, cached.LayerDir);
        FaultPoint.Reach("layer-stacked");
        if (cached.HasRoot) RootAttributes.Copy(cached.LayerDir, layer.Rootfs, withXattrs: true);
        SetMarker(layer.Rootfs, Stacked + cached.Key);
        return cached.LayerDir;
    }

    /// <summary>A re-create of a container whose layer stacks a cached layer: the same entry again, or, when the cache
    /// lost it, one rebuilt from the same archive; never a start with the restored files missing.</summary>
    private static string Restack(ContainerStage stage, EngineLayer layer, string key, ArchiveSource? archive, Invocation invocation)
    {
        var cache = new LayerCache(invocation.CacheDir);
        var holder = LayerReference.ForEngineLayer(layer.UpperDir);
        var cached = cache.Reuse(key, holder);
        if (cached is null && archive is not null && LayerCache.KeyOf(archive) == key)
            cached = ArchiveErrors.Wrap(archive, () => cache.Obtain(archive, ArchivePolicy.Budget(invocation), holder));
        if (cached is null)
            throw new ShimException($"rootfs {layer.Rootfs} of container \"{stage.Id}\" stacks cached layer {key}, which is gone from {cache.Dir}, "
                + (archive is null ? "and there is no archive to build it from (the spec names none, or it is gone)" : $"and archive {archive.RequestedPath} is no longer the one it was built from"));
        if (!EngineStack.IsStacked(layer.Mount!, cached.LayerDir)) EngineStack.Stack(layer.Mount!, cached.LayerDir);
        return cached.LayerDir;
    }

    private static void Copy(EngineLayer layer, ArchiveSource archive, Invocation invocation)
    {
        var budget = ArchivePolicy.Budget(invocation);
        ArchiveErrors.Wrap(archive, () =>
        {
            // A refused archive must change nothing: the whole archive (and its pin) is checked before the first write.
            UpperArchive.Validate(archive.Stream, budget);
            archive.VerifyDigest();
            archive.Rewind();
            FaultPoint.Reach("restore-validated");
            SetMarker(layer.Rootfs, Partial);
            FaultPoint.Reach("restore-marked");
            UpperArchive.ApplyInPlace(FaultPoint.Wrap(archive.Stream, "restoring-in-place"), layer.Rootfs, budget);
            FaultPoint.Reach("restore-applied");
            SetMarker(layer.Rootfs, Done);
        });
    }

    /// <summary>The key of the cached layer an engine's layer stacks, read from its upper dir (where overlayfs keeps
    /// the root's xattrs); null when it stacks none or is gone.</summary>
    public static string? StackedKey(string upperDir) =>
        TryReadMarker(upperDir, out var value, out _) && value!.StartsWith(Stacked, StringComparison.Ordinal) ? value[Stacked.Length..] : null;

    /// <summary>The marker through the mounted rootfs: overlayfs keeps the root's xattrs in its upper, so the marker
    /// lives (and dies) with the engine's layer, and a new container, with a fresh upper, has none.</summary>
    private static string? ReadMarker(string rootfs)
    {
        if (TryReadMarker(rootfs, out var value, out var errno)) return value;
        if (errno == Linux.ENODATA) return null;
        throw new ShimException($"cannot read {MarkerXattr} of rootfs {rootfs}: {Linux.Error(errno)}");
    }

    private static bool TryReadMarker(string path, out string? value, out int errno)
    {
        var buffer = new byte[64];
        var n = Syscall.lgetxattr(path, MarkerXattr, buffer, (ulong)buffer.Length);
        errno = n < 0 ? Linux.LastErrno : 0;
        value = n >= 0 ? Encoding.ASCII.GetString(buffer, 0, (int)n) : null;
        return n >= 0;
    }

    private static void SetMarker(string rootfs, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (Syscall.lsetxattr(rootfs, MarkerXattr, bytes) != 0)
            throw new ShimException($"cannot mark the restore in rootfs {rootfs} ({MarkerXattr}): {Linux.Error(Linux.LastErrno)}");
    }
}
