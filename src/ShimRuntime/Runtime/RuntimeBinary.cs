using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Runtime;

/// <summary>The real runtime csshim hands calls to, and whose flag rules it follows.</summary>
internal sealed record RuntimeBinary(string Path, RuntimeFlavor Flavor)
{
    /// <summary>The status the runtime itself exits with when it refuses a call (runsc: 128, runc and crun: 1), for
    /// refusals csshim makes on the runtime's behalf.</summary>
    public int FailureStatus => Flavor == RuntimeFlavor.Runsc ? 128 : 1;

    /// <summary>The runtime's state directory when no --root is given (for root): runsc's, crun's or runc's.</summary>
    public string DefaultRoot => Flavor == RuntimeFlavor.Runsc ? "/var/run/runsc"
        : System.IO.Path.GetFileName(Path).Contains("crun", StringComparison.Ordinal) ? "/run/crun"
        : "/run/runc";

    /// <summary>--shim-runtime, else the config file's, else runsc on PATH, else runc.</summary>
    public static RuntimeBinary Locate(string? chosen)
    {
        if (chosen is not null)
        {
            var path = chosen.Contains('/') ? System.IO.Path.GetFullPath(chosen) : FindOnPath(chosen)
                ?? throw new ShimException($"runtime \"{chosen}\" not found on PATH");
            if (!File.Exists(path)) throw new ShimException($"runtime {path} does not exist");
            return new RuntimeBinary(path, FlavorOf(path));
        }
        foreach (var name in new[] { "runsc", "runc" })
            if (FindOnPath(name) is { } found) return new RuntimeBinary(found, FlavorOf(found));
        throw new ShimException("no runtime found: neither runsc nor runc is on PATH; set --shim-runtime or \"runtime\" in the config");
    }

    public static RuntimeFlavor FlavorOf(string path) =>
        System.IO.Path.GetFileName(path).Contains("runsc", StringComparison.Ordinal) ? RuntimeFlavor.Runsc : RuntimeFlavor.Runc;

    private static string? FindOnPath(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").Split(':');
        return dirs.Where(d => d.Length > 0).Select(d => System.IO.Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }
}
