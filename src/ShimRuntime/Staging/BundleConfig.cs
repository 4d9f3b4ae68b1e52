using System.Text;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Staging;

/// <summary>A bundle's config.json as csshim changes it: the original is kept in the staging, the rewrite is atomic,
/// and the original goes back on unstage only if config.json is still the one csshim wrote (a client that wrote a new
/// one meanwhile keeps it).</summary>
internal static class BundleConfig
{
    /// <summary>The edited spec as it will be written, and its fingerprint. The caller records the fingerprint
    /// before <see cref="Write"/>, so that a crash right after the write still finds config.json recognisably csshim's.</summary>
    public static (byte[] Bytes, string Fingerprint) Render(BundleSpec spec)
    {
        var bytes = new UTF8Encoding(false).GetBytes(spec.ToJson());
        return (bytes, Fingerprint(bytes));
    }

    /// <summary>Keep the original, then replace config.json with the rendered spec.</summary>
    public static void Write(BundleSpec spec, ContainerStage stage, byte[] rendered)
    {
        File.Copy(spec.ConfigPath, stage.OriginalConfig, overwrite: true);
        AtomicFile.Write(spec.ConfigPath, File.GetUnixFileMode(spec.ConfigPath), s => s.Write(rendered));
    }

    /// <summary>Put the original back if config.json is still csshim's rewrite.</summary>
    public static void PutBack(ContainerStage stage, StageRecord record)
    {
        if (record.WrittenConfig is null || !File.Exists(stage.OriginalConfig)) return;
        var path = Path.Combine(record.Bundle, "config.json");
        byte[] current;
        try
        {
            current = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // the bundle is gone: nothing to put back
        }
        if (Fingerprint(current) != record.WrittenConfig) return;
        var original = File.ReadAllBytes(stage.OriginalConfig);
        AtomicFile.Write(path, File.GetUnixFileMode(path), s => s.Write(original));
    }

    /// <summary>Length and FNV-1a of the bytes.</summary>
    private static string Fingerprint(byte[] bytes) => $"{bytes.Length}:{Fnv1a.Hash64(bytes):x16}";
}
