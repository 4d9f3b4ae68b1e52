using Csshim.OciSpec;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;

namespace Csshim.ShimRuntime.Settings;

/// <summary>Where a container's writes go: "auto" restores in place into an engine's overlay rootfs (the engine's
/// layer keeps the writes) and stacks a tmpfs upper only over a plain directory; "tmpfs" always stacks one.</summary>
internal enum UpperMode { Auto, Tmpfs }

/// <summary>How an archive reaches a container: "layer" extracts it once into csshim's layer cache and stacks that
/// read-only layer under the container's upper (nothing copied per container); "copy" restores it into each
/// container's upper (the engine's layer or csshim's tmpfs), where `docker diff` and `docker commit` see it.</summary>
internal enum RestoreMode { Layer, Copy }

/// <summary>One csshim call resolved: its command line split by the real runtime's flag rules, the runtime, and
/// csshim's settings (flags over config file over defaults). Every input here is the operator's (flags, config file,
/// csshim's environment), never a tenant's: nothing in a spec or an annotation reaches these settings.</summary>
internal sealed class Invocation
{
    public const string DefaultStateDir = "/run/csshim";
    public const string DefaultUpperSize = "50%";
    /// <summary>On disk: an in-place container's layer needs its cached layer again after a reboot.</summary>
    public const string DefaultCacheDir = "/var/lib/csshim/layers";
    /// <summary>Restore budget: tmpfs caps bytes and inodes itself, but an in-place restore has no tmpfs to do it.</summary>
    public const long DefaultMaxEntries = 1_000_000;

    public required RuntimeCommandLine Command { get; init; }
    public required RuntimeBinary Runtime { get; init; }
    /// <summary>Canonical (<see cref="CanonicalPath"/>): mounts below it are found in mountinfo under this spelling.</summary>
    public required string StateDir { get; init; }
    /// <summary>The runtime root this call addresses, canonical: `--root` as given in any spelling, or the runtime's
    /// default when there is none. Keys the stagings, so every spelling finds the same one.</summary>
    public required string RuntimeRoot { get; init; }
    public required UpperMode UpperMode { get; init; }
    public required RestoreMode RestoreMode { get; init; }
    /// <summary>Canonical, like the state dir.</summary>
    public required string CacheDir { get; init; }
    public required UpperCaps UpperCaps { get; init; }
    public required long MaxEntries { get; init; }
    public required bool AllowRootfsTarAnnotation { get; init; }
    public required IReadOnlyList<string> AllowedTarDirs { get; init; }

    /// <summary>The subcommand's arguments, by csshim's table for its own commands, else by the runtime's.</summary>
    public SubcommandLine Subcommand => subcommand ??= ParseSubcommand();
    private SubcommandLine? subcommand;

    private SubcommandLine ParseSubcommand()
    {
        var name = Command.Subcommand!;
        return CommandTable.Find(name) is { OwnFlags: { } own } command
            ? SubcommandLine.Parse(name, Command.SubcommandArgs, own, reorders: false, verb: command.HasVerb)
            : SubcommandLine.Parse(name, Command.SubcommandArgs, Runtime.Flavor);
    }

    /// <param name="first">argv parsed with runsc's table, before the runtime is known.</param>
    public static Invocation Resolve(IReadOnlyList<string> argv, RuntimeCommandLine first)
    {
        var firstOwn = new ShimOptions(first.Consumed);
        var configPath = firstOwn.Value(ShimFlags.Config) ?? Environment.GetEnvironmentVariable("CSSHIM_CONFIG");
        var config = ShimConfig.Load(configPath ?? ShimConfig.DefaultPath, named: configPath is not null);

        // The config's runtimeArgs belong to the config's runtime (runc refuses runsc's --network): they are left
        // out when the caller names another runtime. They come first so that the caller's own flags win (Go flags:
        // the last one counts).
        var configArgs = firstOwn.Value(ShimFlags.Runtime) is { } named && config.RuntimeArgs.Count > 0
                         && RuntimeBinary.Locate(named).Path != RuntimeBinary.Locate(config.Runtime).Path
            ? [] : config.RuntimeArgs;
        var args = configArgs.Count == 0 ? argv : [.. configArgs, .. argv];
        var provisional = configArgs.Count == 0 ? first : RuntimeCommandLine.Parse(args, RuntimeFlavor.Runsc, ShimFlags.Table);
        var runtime = RuntimeBinary.Locate(new ShimOptions(provisional.Consumed).Value(ShimFlags.Runtime) ?? config.Runtime);
        if (IsSelf(runtime.Path))
            throw new ShimException($"the configured runtime {runtime.Path} is csshim itself; point --shim-runtime or \"runtime\" at runsc, runc or crun");
        var command = runtime.Flavor == RuntimeFlavor.Runsc ? provisional : RuntimeCommandLine.Parse(args, runtime.Flavor, ShimFlags.Table);
        var own = new ShimOptions(command.Consumed);

        return new Invocation
        {
            Command = command,
            Runtime = runtime,
            StateDir = CanonicalPath.Of(own.Value(ShimFlags.StateDir) ?? config.StateDir ?? DefaultStateDir),
            RuntimeRoot = CanonicalPath.Of(command.Root ?? runtime.DefaultRoot),
            UpperMode = ParseMode(own.Value(ShimFlags.Upper)) ?? config.UpperMode ?? UpperMode.Auto,
            RestoreMode = ParseRestore(own.Value(ShimFlags.Restore)) ?? config.RestoreMode ?? RestoreMode.Layer,
            CacheDir = CanonicalPath.Of(own.Value(ShimFlags.CacheDir) ?? config.CacheDir ?? DefaultCacheDir),
            UpperCaps = ResolveCaps(own, config),
            MaxEntries = PositiveFlag(own, ShimFlags.MaxEntries) ?? config.MaxEntries ?? DefaultMaxEntries,
            AllowRootfsTarAnnotation = own.Switch(ShimFlags.AllowAnnotation) ?? config.AllowRootfsTarAnnotation,
            AllowedTarDirs = [.. own.Values(ShimFlags.TarDir), .. config.AllowedTarDirs],
        };
    }

    private static UpperCaps ResolveCaps(ShimOptions own, ShimConfig config) => UpperCaps.Parse(
        Setting.Of(own.Value(ShimFlags.UpperSize), ShimFlags.UpperSize, config.UpperSize, config, "upperSize") ?? Setting.Default(DefaultUpperSize),
        Setting.Of(own.Value(ShimFlags.UpperInodes), ShimFlags.UpperInodes, config.UpperInodes, config, "upperInodes"));

    public static UpperMode? ParseMode(string? value) => value switch
    {
        null => null,
        "auto" => UpperMode.Auto,
        "tmpfs" => UpperMode.Tmpfs,
        _ => throw new ShimUsageException($"--{ShimFlags.Upper} \"{value}\": use auto or tmpfs"),
    };

    private static RestoreMode? ParseRestore(string? value) => value switch
    {
        null => null,
        "layer" => RestoreMode.Layer,
        "copy" => RestoreMode.Copy,
        _ => throw new ShimUsageException($"--{ShimFlags.Restore} \"{value}\": use layer or copy"),
    };

    private static long? PositiveFlag(ShimOptions own, string flag) =>
        own.Value(flag) is not { } value ? null
        : long.TryParse(value, out var n) && n > 0 ? n
        : throw new ShimUsageException($"--{flag} \"{value}\": give a positive whole number");

    private static bool IsSelf(string path)
    {
        var self = Environment.ProcessPath;
        if (self is null) return false;
        try
        {
            return ResolveLinks(path) == ResolveLinks(self);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string ResolveLinks(string path) =>
        new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);

    /// <summary>The runtime's argv for this call, with extra global flags csshim adds in front.</summary>
    public IReadOnlyList<string> RuntimeArgs(IEnumerable<string>? extraGlobals = null) => Command.ToRuntimeArgs(extraGlobals);
}
