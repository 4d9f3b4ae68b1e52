using Csshim.OciSpec;
using Csshim.ShimRuntime.Settings;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>Whether a spec's archive may be restored, checked before anything is staged: the operator's switch
/// (runsc's --allow-rootfs-tar-annotation), runsc's readonly rule, the file policy of <see cref="ArchiveSource"/>,
/// and the restore budgets.</summary>
internal static class ArchivePolicy
{
    /// <summary>The archive this spec names, opened; null when it names none.</summary>
    public static ArchiveSource? Open(BundleSpec spec, Invocation invocation)
    {
        var annotation = RootfsTarAnnotation.Find(spec.Annotations);
        if (annotation is null) return null;
        if (!invocation.AllowRootfsTarAnnotation)
            throw new ShimException("rootfs tar annotation is disabled, use --allow-rootfs-tar-annotation to enable it");
        if (spec.RootReadonly)
            throw new ShimException("rootfs tar upper path is set but rootfs is readonly");
        return ArchiveSource.Open(annotation.ArchivePath, spec.BundleDir, invocation.AllowedTarDirs,
            spec.Annotations.GetValueOrDefault(DigestPin.KeyFor(annotation)), DigestPin.KeyFor(annotation));
    }

    /// <summary>What one restore may create: the byte cap of the upper and the entry budget (which also counts the
    /// parent directories a restore makes).</summary>
    public static ExtractOptions Budget(Invocation invocation) =>
        new() { MaxBytes = invocation.UpperCaps.Bytes, MaxEntries = invocation.MaxEntries };
}
