using System.Security.Cryptography;
using System.Text;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Staging;

/// <summary>A bundle's config.json as csshim changes it: the original is kept in the staging, the rewrite is atomic,
/// and the original goes back on unstage only if config.json is still the one csshim wrote (a client that wrote a new
/// one meanwhile keeps it).</summary>
internal static class BundleConfig
{
    /// <summary>Keep the original, write the edited spec; returns the sha256 of what was written.</summary>
    public static string Rewrite(BundleSpec spec, ContainerStage stage)
    {
        File.Copy(spec.ConfigPath, stage.OriginalConfig, overwrite: true);
        var bytes = new UTF8Encoding(false).GetBytes(spec.ToJson());
        AtomicFile.Write(spec.ConfigPath, File.GetUnixFileMode(spec.ConfigPath), s => s.Write(bytes));
        return Sha256(bytes);
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
        if (Sha256(current) != record.WrittenConfig) return;
        var original = File.ReadAllBytes(stage.OriginalConfig);
        AtomicFile.Write(path, File.GetUnixFileMode(path), s => s.Write(original));
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
