using Csshim.OciSpec;

namespace Csshim.ShimRuntime;

/// <summary>One csshim call resolved: its command line split by the real runtime's flag rules, the runtime, and
/// csshim's settings (flags over config file over defaults).</summary>
internal sealed class Invocation
{
    public const string DefaultStateDir = "/run/csshim";
    public const string DefaultUpperSize = "50%";
    /// <summary>Restore budget: tmpfs caps bytes itself, but not the kernel memory of many empty entries.</summary>
    public const long DefaultMaxEntries = 1_000_000;

    public required RuntimeCommandLine Command { get; init; }
    public required RuntimeBinary Runtime { get; init; }
    public required string StateDir { get; init; }
    public required string UpperSize { get; init; }
    public required long MaxEntries { get; init; }
    public required bool AllowRootfsTarAnnotation { get; init; }
    public required IReadOnlyList<string> AllowedTarDirs { get; init; }

    public SubcommandLine Subcommand => subcommand ??= SubcommandLine.Parse(Command.Subcommand!, Command.SubcommandArgs, Runtime.Flavor);
    private SubcommandLine? subcommand;

    /// <param name="first">argv parsed with runsc's table, before the runtime is known.</param>
    public static Invocation Resolve(IReadOnlyList<string> argv, RuntimeCommandLine first)
    {
        var configPath = first.Shim.ConfigPath ?? Environment.GetEnvironmentVariable("CSSHIM_CONFIG");
        var config = ShimConfig.Load(configPath ?? ShimConfig.DefaultPath, named: configPath is not null);

        // The config's runtimeArgs belong to the config's runtime (runc refuses runsc's --network): they are left
        // out when the caller names another runtime. They come first so that the caller's own flags win (Go flags:
        // the last one counts).
        var configArgs = first.Shim.RuntimePath is { } named && config.RuntimeArgs.Count > 0
                         && RuntimeBinary.Locate(named).Path != RuntimeBinary.Locate(config.Runtime).Path
            ? [] : config.RuntimeArgs;
        var args = configArgs.Count == 0 ? argv : [.. configArgs, .. argv];
        var provisional = configArgs.Count == 0 ? first : RuntimeCommandLine.Parse(args, RuntimeFlavor.Runsc);
        var runtime = RuntimeBinary.Locate(provisional.Shim.RuntimePath ?? config.Runtime);
        if (IsSelf(runtime.Path))
            throw new ShimException($"the configured runtime {runtime.Path} is csshim itself; point --shim-runtime or \"runtime\" at runsc, runc or crun");
        var command = runtime.Flavor == RuntimeFlavor.Runsc ? provisional : RuntimeCommandLine.Parse(args, runtime.Flavor);

        return new Invocation
        {
            Command = command,
            Runtime = runtime,
            StateDir = Path.GetFullPath(command.Shim.StateDir ?? config.StateDir ?? DefaultStateDir),
            UpperSize = command.Shim.UpperSize ?? config.UpperSize ?? DefaultUpperSize,
            MaxEntries = ParseMaxEntries(command.Shim.MaxEntries) ?? config.MaxEntries ?? DefaultMaxEntries,
            AllowRootfsTarAnnotation = command.Shim.AllowRootfsTarAnnotation || config.AllowRootfsTarAnnotation,
            AllowedTarDirs = [.. command.Shim.TarDirs, .. config.AllowedTarDirs],
        };
    }

    private static long? ParseMaxEntries(string? flag) =>
        flag is null ? null
        : long.TryParse(flag, out var n) && n > 0 ? n
        : throw new ShimUsageException($"--shim-max-entries \"{flag}\": give a positive whole number");

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
