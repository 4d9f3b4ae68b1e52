using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using System.Text;
using Csshim.ShimRuntime.Settings;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// The archive restored into the engine's mounted rootfs itself (see <see cref="EngineLayer"/>), nothing mounted.
/// A marker xattr on the layer's root (`trusted.csshim.restore`, never written into snapshots nor restored from
/// archives) records the restore, because the layer outlives csshim's state: a re-create of the same container
/// (`docker restart`, a reboot with a restart policy) must not apply the archive again over the container's later
/// changes. "partial" while applying, "done" after: an apply that was killed halfway is completed by the next create
/// (applying an archive is idempotent), never handed to the runtime half done.
/// </summary>
internal static class InPlaceLayer
{
    public const string MarkerXattr = UpperArchive.PrivateXattrPrefix + "restore";
    private const string Partial = "partial", Done = "done";

    public static void Make(ContainerStage stage, EngineLayer layer, ArchiveSource? archive, Invocation invocation)
    {
        var state = ReadMarker(layer.Rootfs);
        if (state == Done) return;
        if (archive is null)
        {
            if (state == Partial)
                throw new ShimException($"rootfs {layer.Rootfs} of container \"{stage.Id}\" holds an interrupted restore, and its spec names no archive to complete it");
            return;
        }
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

    /// <summary>The marker through the mounted rootfs: overlayfs keeps the root's xattrs in its upper, so the marker
    /// lives (and dies) with the engine's layer, and a new container, with a fresh upper, has none.</summary>
    private static string? ReadMarker(string rootfs)
    {
        var buffer = new byte[16];
        var n = Syscall.lgetxattr(rootfs, MarkerXattr, buffer, (ulong)buffer.Length);
        if (n >= 0) return Encoding.ASCII.GetString(buffer, 0, (int)n);
        int errno = Linux.LastErrno;
        if (errno == Linux.ENODATA) return null;
        throw new ShimException($"cannot read {MarkerXattr} of rootfs {rootfs}: {Linux.Error(errno)}");
    }

    private static void SetMarker(string rootfs, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (Syscall.lsetxattr(rootfs, MarkerXattr, bytes) != 0)
            throw new ShimException($"cannot mark the restore in rootfs {rootfs} ({MarkerXattr}): {Linux.Error(Linux.LastErrno)}");
    }
}
