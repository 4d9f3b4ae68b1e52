namespace Csshim.OciSpec;

/// <summary>A bundle's config.json, edited as a JObject so every field we do not touch survives as written.</summary>
public sealed class BundleSpec
{
    public static BundleSpec Load(string bundleDir) => throw new NotImplementedException();

    public string BundleDir { get; init; } = "";
    public string ConfigPath => Path.Combine(BundleDir, "config.json");
    /// <summary>root.path as written (may be relative to the bundle).</summary>
    public string RootPath { get => throw new NotImplementedException(); set => throw new NotImplementedException(); }
    /// <summary>root.path made absolute against the bundle directory.</summary>
    public string AbsoluteRootPath => throw new NotImplementedException();
    public bool RootReadonly => throw new NotImplementedException();
    public IReadOnlyDictionary<string, string> Annotations => throw new NotImplementedException();
    public void SetAnnotation(string key, string value) => throw new NotImplementedException();
    public void RemoveAnnotation(string key) => throw new NotImplementedException();
    /// <summary>Write config.json through a temp file, fsync and rename, keeping the file mode.</summary>
    public void SaveAtomic() => throw new NotImplementedException();
}

/// <summary>The annotation that names a rootfs upper archive, chosen by runsc's rules (FORMAT.md).</summary>
public sealed record RootfsTarAnnotation(string Key, string ArchivePath)
{
    public const string BaseKey = "dev.gvisor.tar.rootfs.upper";
    /// <summary>The key that applies to this spec and its archive path, or null when none applies.</summary>
    public static RootfsTarAnnotation? Find(IReadOnlyDictionary<string, string> annotations) => throw new NotImplementedException();
}
