using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Csshim.ShimRuntime.Staging;

/// <summary>Where one container's staging lives: &lt;state-dir&gt;/&lt;hash of the runtime root&gt;/&lt;id&gt;/.
/// Keyed by the runtime root too, because two runtime roots may hold containers with the same id; the root is the
/// canonical one (<see cref="Settings.CanonicalPath"/>), so every spelling of `--root` finds the same staging.</summary>
internal sealed partial class ContainerStage
{
    [GeneratedRegex(@"^[\w+\-.]+$")]
    private static partial Regex IdPattern();

    public string Id { get; }
    public string Dir { get; }
    public string RecordFile => Path.Combine(Dir, "state.json");
    public string OriginalConfig => Path.Combine(Dir, "config.orig.json");
    public string LockFile => Dir + ".lock";
    public string Layer => Path.Combine(Dir, "layer");
    public string Upper => Path.Combine(Layer, "upper");
    public string Work => Path.Combine(Layer, "work");
    public string Merged => Path.Combine(Dir, "merged");

    private ContainerStage(string id, string dir)
    {
        Id = id;
        Dir = dir;
    }

    public static ContainerStage For(string stateDir, string canonicalRuntimeRoot, string id)
    {
        // Same rule as runc's container id check; it also keeps the id a single, harmless path component.
        if (!IdPattern().IsMatch(id) || id is "." or "..")
            throw new ShimException($"invalid container id \"{id}\": use letters, digits, '_', '+', '-' and '.'");
        return new ContainerStage(id, Path.Combine(stateDir, RootKey(canonicalRuntimeRoot), id));
    }

    /// <summary>Every staging under stateDir, for gc.</summary>
    public static IEnumerable<ContainerStage> All(string stateDir)
    {
        if (!Directory.Exists(stateDir)) yield break;
        foreach (var rootDir in Directory.EnumerateDirectories(stateDir))
        {
            var ids = Directory.EnumerateDirectories(rootDir).Select(Path.GetFileName)
                .Concat(Directory.EnumerateFiles(rootDir, "*.lock").Select(Path.GetFileNameWithoutExtension))
                .Distinct();
            foreach (var id in ids)
                yield return new ContainerStage(id!, Path.Combine(rootDir, id!));
        }
    }

    public bool Exists => Directory.Exists(Dir);

    private static string RootKey(string canonicalRuntimeRoot) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRuntimeRoot)))[..16];
}
