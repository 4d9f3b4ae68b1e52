using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// The `dev.csshim.*` annotations. csshim writes three into a config.json it rewrites, and reads them back only to
/// recognise that config.json on a re-create (a crash or a lost container left it behind): a caller who could set
/// them would choose the host directory csshim mounts as the container's rootfs. So a spec carrying one is honoured
/// only when it provably is csshim's own rewrite for this very staging; otherwise the create is refused before
/// anything happens. The digest pins are the callers' (tenants pin the archive they name). Any other `dev.csshim.*`
/// key is refused too: a mistyped pin must not silently pin nothing.
/// </summary>
internal static class OwnAnnotations
{
    public const string Prefix = "dev.csshim.";
    public const string OriginalRoot = "dev.csshim.rootfs.original";
    public const string Staging = "dev.csshim.staging";
    public const string RestoredArchive = "dev.csshim.tar.rootfs.upper";

    public static readonly IReadOnlyList<string> Keys = [OriginalRoot, Staging, RestoredArchive];

    /// <summary>csshim's own keys present in the spec, in a stable order.</summary>
    public static IReadOnlyList<string> In(BundleSpec spec) => Keys.Where(spec.Annotations.ContainsKey).ToArray();

    /// <summary>Refuses a `dev.csshim.*` key that is neither csshim's own nor a digest pin.</summary>
    public static void RefuseUnknown(BundleSpec spec)
    {
        foreach (var key in spec.Annotations.Keys.Where(k => k.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            if (!Keys.Contains(key) && !DigestPin.IsPinKey(key))
                throw new ShimException($"annotation {key} is not one csshim knows (callers may set {DigestPin.BareKey} and {DigestPin.BareKey}.NAME)");
    }

    public static ShimException Refusal(string key) => new($"annotation {key} is set by csshim, not by callers");

    /// <summary>True when spec is the config.json csshim wrote for this staging: root.path is the staging's merged
    /// dir, and the record csshim saved agrees on the bundle, the lower dir and the staging.</summary>
    public static bool WrittenFor(BundleSpec spec, ContainerStage stage, StageRecord? record)
    {
        if (record is not { Mode: StagingMode.Tmpfs }) return false;
        var annotations = spec.Annotations;
        return spec.AbsoluteRootPath == stage.Merged
               && record.Bundle == spec.BundleDir
               && annotations.GetValueOrDefault(OriginalRoot) == record.Rootfs
               && annotations.GetValueOrDefault(Staging) == stage.Dir
               && (!annotations.TryGetValue(RestoredArchive, out var archive) || archive == record.Archive);
    }

    /// <summary>What csshim records in a config.json it points at its own overlay (for operators and for the check above).</summary>
    public static void Write(BundleSpec spec, StageRecord record, ContainerStage stage)
    {
        spec.SetAnnotation(OriginalRoot, record.Rootfs);
        spec.SetAnnotation(Staging, stage.Dir);
        if (record.Archive is not null) spec.SetAnnotation(RestoredArchive, record.Archive);
    }
}

/// <summary>The digest pin of an archive: its key follows the archive's (`dev.gvisor.tar.rootfs.upper` is pinned by
/// `dev.csshim.tar.rootfs.upper.sha256`, `dev.gvisor.tar.rootfs.upper.NAME` by `dev.csshim.tar.rootfs.upper.sha256.NAME`),
/// so every container of a pod can pin its own archive through pod annotations.</summary>
internal static class DigestPin
{
    public const string BareKey = "dev.csshim.tar.rootfs.upper.sha256";

    public static string KeyFor(RootfsTarAnnotation annotation) =>
        annotation.Key == RootfsTarAnnotation.BaseKey ? BareKey : BareKey + annotation.Key[RootfsTarAnnotation.BaseKey.Length..];

    public static bool IsPinKey(string key) => key == BareKey || key.StartsWith(BareKey + ".", StringComparison.Ordinal);
}
