namespace Csshim.OciSpec;

/// <summary>The annotation that names a rootfs upper archive, chosen by runsc's rules (docs/FORMAT.md).</summary>
/// <remarks>
/// runsc (runsc/specutils): the container name is io.kubernetes.cri.container-name, renamed by the first
/// `dev.gvisor.container-name-remap.*` annotation whose value is "NAME=NEW" (runsc takes whichever its map
/// iteration meets first; here the keys are taken in ordinal order so the choice is stable). With a name only
/// `dev.gvisor.tar.rootfs.upper.NAME` counts; without one, a container CRI marks as part of a pod (container-type
/// "sandbox" or "container") gets none, anything else uses the bare key. csshim also takes CRI-O's
/// io.kubernetes.cri-o.ContainerName / ContainerType when the containerd keys are absent (runsc does not).
/// An empty path counts as no annotation (runsc treats "" as unset).
/// </remarks>
public sealed record RootfsTarAnnotation(string Key, string ArchivePath)
{
    public const string BaseKey = "dev.gvisor.tar.rootfs.upper";
    public const string ContainerNameKey = "io.kubernetes.cri.container-name";
    public const string ContainerTypeKey = "io.kubernetes.cri.container-type";
    public const string CrioContainerNameKey = "io.kubernetes.cri-o.ContainerName";
    public const string CrioContainerTypeKey = "io.kubernetes.cri-o.ContainerType";
    public const string NameRemapPrefix = "dev.gvisor.container-name-remap.";

    /// <summary>The key that applies to this spec and its archive path, or null when none applies.</summary>
    public static RootfsTarAnnotation? Find(IReadOnlyDictionary<string, string> annotations)
    {
        var key = ApplicableKey(annotations);
        return key is not null && annotations.TryGetValue(key, out var path) && path.Length > 0
            ? new RootfsTarAnnotation(key, path)
            : null;
    }

    /// <summary>The key runsc would read for this spec (present or not), or null when the spec can use none.</summary>
    public static string? ApplicableKey(IReadOnlyDictionary<string, string> annotations)
    {
        var name = ContainerName(annotations);
        if (name is not null) return BaseKey + "." + name;
        return IsPodMember(annotations) ? null : BaseKey;
    }

    /// <summary>
    /// Every annotation of the family (the bare key and every per-name key), present in the spec. csshim strips all
    /// of them from the spec it forwards when it stages a container: the archive is already in the staged rootfs,
    /// and a runsc that knows the annotation must neither apply it a second time nor refuse the spec for lack of
    /// --allow-rootfs-tar-annotation; keys meant for other containers of a pod mean nothing to this one.
    /// </summary>
    public static IReadOnlyList<string> FamilyKeys(IReadOnlyDictionary<string, string> annotations) =>
        annotations.Keys.Where(IsFamilyKey).OrderBy(k => k, StringComparer.Ordinal).ToArray();

    public static bool IsFamilyKey(string key) =>
        key == BaseKey || key.StartsWith(BaseKey + ".", StringComparison.Ordinal);

    /// <summary>The container's CRI name after runsc's remap, or null when it has none.</summary>
    public static string? ContainerName(IReadOnlyDictionary<string, string> annotations)
    {
        var name = NonEmpty(annotations, ContainerNameKey) ?? NonEmpty(annotations, CrioContainerNameKey);
        if (name is null) return null;
        foreach (var key in annotations.Keys.Where(k => k.StartsWith(NameRemapPrefix, StringComparison.Ordinal))
                     .OrderBy(k => k, StringComparer.Ordinal))
        {
            var mapping = annotations[key];
            var eq = mapping.IndexOf('=');
            if (eq >= 0 && mapping[..eq] == name) return eq + 1 < mapping.Length ? mapping[(eq + 1)..] : null;
        }
        return name;
    }

    private static bool IsPodMember(IReadOnlyDictionary<string, string> annotations)
    {
        var type = NonEmpty(annotations, ContainerTypeKey) ?? NonEmpty(annotations, CrioContainerTypeKey);
        return type is "sandbox" or "container";
    }

    private static string? NonEmpty(IReadOnlyDictionary<string, string> annotations, string key) =>
        annotations.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
}
