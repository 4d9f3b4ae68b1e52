using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Cli;

/// <summary>One of csshim's own global flags: consumed wherever it stands among the runtime's global flags and never
/// forwarded. <see cref="ValueName"/> is null for a bool.</summary>
internal sealed record ShimFlag(string Name, string? ValueName, string Help);

/// <summary>csshim's own global flags, the one list the parser, the settings and `csshim help` read.</summary>
internal static class ShimFlags
{
    public const string Runtime = "shim-runtime";
    public const string Config = "shim-config";
    public const string StateDir = "shim-state-dir";
    public const string Upper = "shim-upper";
    public const string UpperSize = "shim-upper-size";
    public const string UpperInodes = "shim-upper-inodes";
    public const string MaxEntries = "shim-max-entries";
    public const string TarDir = "shim-tar-dir";
    public const string Restore = "shim-restore";
    public const string CacheDir = "shim-cache-dir";
    /// <summary>runsc's own flag, which csshim takes over: it decides whether csshim honours the annotation.</summary>
    public const string AllowAnnotation = "allow-rootfs-tar-annotation";

    public static readonly IReadOnlyList<ShimFlag> All =
    [
        new(Runtime, "PATH", "the real runtime (config \"runtime\"; default: runsc on PATH, else runc)"),
        new(Config, "PATH", "csshim's config file (default: $CSSHIM_CONFIG, else /etc/csshim/config.json)"),
        new(StateDir, "DIR", "where stagings live (config \"stateDir\"; default /run/csshim)"),
        new(Upper, "MODE", "auto: restore in place into an engine's overlay rootfs, else a tmpfs upper; tmpfs: always a tmpfs upper (config \"upper\"; default auto)"),
        new(UpperSize, "SIZE", "byte cap of a tmpfs upper and of a restore, e.g. 2g or 50% of RAM (config \"upperSize\"; default 50%)"),
        new(UpperInodes, "N", "inode cap of a tmpfs upper (config \"upperInodes\"; default: one per 16 KiB of the byte cap)"),
        new(MaxEntries, "N", "entry budget of a restore, parent directories it creates included (config \"maxEntries\"; default 1000000)"),
        new(Restore, "MODE", "layer: an archive is extracted once into the layer cache and mounted under each container's upper; copy: restored into each container's upper (config \"restore\"; default layer)"),
        new(CacheDir, "DIR", "the layer cache, on disk (config \"cacheDir\"; default /var/lib/csshim/layers)"),
        new(TarDir, "DIR", "archives must resolve into DIR; repeatable (config \"allowedTarDirs\"; default anywhere)"),
        new(AllowAnnotation, null, "honour dev.gvisor.tar.rootfs.upper (runsc's flag; config \"allowRootfsTarAnnotation\"; default off)"),
    ];

    public static readonly FlagTable Table = FlagTable.Of(
        valued: All.Where(f => f.ValueName is not null).Select(f => f.Name).ToArray(),
        bools: All.Where(f => f.ValueName is null).Select(f => f.Name).ToArray());
}

/// <summary>The own flags one call gave, from the consumed part of its command line.</summary>
internal sealed class ShimOptions
{
    private readonly IReadOnlyList<ParsedFlag> flags;

    public ShimOptions(IReadOnlyList<ParsedFlag> consumed) => flags = consumed;

    /// <summary>The last value given for a valued flag, or null.</summary>
    public string? Value(string name) => flags.LastOrDefault(f => f.Name == name)?.Value;

    /// <summary>Every value of a repeatable flag, in order.</summary>
    public IReadOnlyList<string> Values(string name) => flags.Where(f => f.Name == name).Select(f => f.Value!).ToArray();

    /// <summary>A bool flag: true when given bare or `=true`; null when absent.</summary>
    public bool? Switch(string name) =>
        flags.LastOrDefault(f => f.Name == name) is { } f ? FlagWord.ParseBool(f.EffectiveValue) : null;
}
