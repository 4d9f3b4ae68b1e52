using System.Text;
using System.Text.RegularExpressions;

namespace Csshim.ShimRuntime.Staging;

/// <summary>Where one container's staging lives: &lt;state-dir&gt;/&lt;runtime root as a name&gt;/&lt;id&gt;/.
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

    /// <summary>The canonical runtime root as one directory name, systemd-escape style (`/run/runc` is
    /// `run-runc`, a `-` or any byte outside [A-Za-z0-9_.] becomes `\xNN`): readable, and no two roots share a name.
    /// A root too long for a name gets a prefix of it and a hash of all of it. (No cryptographic hash here: the first
    /// one would load OpenSSL, about 4 ms on every create, delete and snapshot.)</summary>
    private static string RootKey(string canonicalRuntimeRoot)
    {
        var name = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(canonicalRuntimeRoot.TrimStart('/')))
        {
            if (b == '/') name.Append('-');
            else if (char.IsAsciiLetterOrDigit((char)b) || b == '_' || (b == '.' && name.Length > 0)) name.Append((char)b);
            else name.Append($"\\x{b:x2}");
        }
        if (name.Length == 0) return "-";
        return name.Length <= 200 ? name.ToString() : $"{name.ToString(0, 180)}~{Fnv1a.Hash64(Encoding.UTF8.GetBytes(canonicalRuntimeRoot)):x16}";
    }
}
