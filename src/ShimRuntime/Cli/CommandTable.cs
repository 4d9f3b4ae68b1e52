using Csshim.OciSpec;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Commands;

namespace Csshim.ShimRuntime.Cli;

/// <summary>One call as it arrived: the argv (bytes preserved, see <see cref="RawArgv"/>), its first split, the log.
/// The runtime and settings are resolved only when a command asks for them: `install` and `help` work before any
/// runtime is installed.</summary>
internal sealed class CommandCall(IReadOnlyList<string> argv, RuntimeCommandLine first, ShimLog log)
{
    private Invocation? invocation;

    public IReadOnlyList<string> Argv => argv;
    public RuntimeCommandLine First => first;
    public ShimLog Log => log;
    public Invocation Invocation => invocation ??= Invocation.Resolve(argv, first);
}

/// <summary>A command csshim handles: its name, usage line, one-line summary and handler. <see cref="OwnFlags"/> is
/// the flag table of a command that is csshim's own; null for a runtime command that csshim intercepts (its flags
/// are the runtime's, see RuntimeFlagTables).</summary>
internal sealed record ShimCommand(string Name, string Usage, string Summary, Func<CommandCall, int> Run)
{
    public FlagTable? OwnFlags { get; init; }
    /// <summary>The first positional is a verb whose flags may follow it (`tar rootfs-upper --file F ID`).</summary>
    public bool HasVerb { get; init; }
    /// <summary>Not listed by help: csshim's own processes, started by csshim, not by callers.</summary>
    public bool Hidden { get; init; }
    /// <summary>False for commands that must work before the runtime is known (install, help).</summary>
    public bool NeedsRuntime { get; init; } = true;

    /// <summary>A usage error (exit 2) with this command's usage line and what was wrong.</summary>
    public ShimUsageException UsageError(string problem) => new($"{problem}; usage: csshim {Usage}");
}

/// <summary>Every command csshim acts on, like runc's command table: the router, the usage errors and `csshim help`
/// all read it. Any other command goes to the runtime unchanged, by exec.</summary>
internal static class CommandTable
{
    public static readonly FlagTable InstallFlags =
        FlagTable.Of(["docker-config", "containerd-config", "name"], ["dry-run", "no-docker", "help,h"]);

    public static readonly IReadOnlyList<ShimCommand> All =
    [
        new("create", "create [runtime flags] --bundle DIR ID",
            "stage the rootfs (restoring dev.gvisor.tar.rootfs.upper), then the runtime's create", CreateCommand.Run),
        new("run", "run [runtime flags] --bundle DIR ID",
            "as create, then the runtime's run; a foreground run is unstaged when it ends", CreateCommand.Run),
        new("delete", "delete [--force] ID", "the runtime's delete, then unstage", DeleteCommand.Run),
        new("tar", "tar rootfs-upper [--file PATH] [--compress gzip|zstd] [--pause] ID",
            "write the container's rootfs changes as an archive (runsc's format) to PATH or stdout", TarCommand.Run)
        {
            OwnFlags = FlagTable.Of(["file", "compress"], ["pause"]), HasVerb = true,
        },
        new("kill", "kill [runtime flags] ID [SIGNAL]",
            "the runtime's kill; on runsc a container still \"created\" is deleted instead (runsc refuses to signal it)", RunscCompat.Kill),
        new("exec", "exec [runtime flags] ID [COMMAND...]",
            "the runtime's exec; on runsc --tty is dropped (runsc takes the terminal from the process spec)", RunscCompat.Exec),
        new("features", "features", "the runtime's features (or a runc-style answer), plus csshim's keys", FeaturesCommand.Run),
        new("gc", "gc [--dry-run]", "remove stagings whose container the runtime no longer knows", GcCommand.Run)
        {
            OwnFlags = FlagTable.Of([], ["dry-run"]),
        },
        new("install", "install [--docker-config FILE | --no-docker] [--containerd-config FILE] [--name NAME] [--dry-run] [-- runtimeArgs...]",
            "register csshim with Docker and containerd", InstallCall)
        {
            OwnFlags = InstallFlags, NeedsRuntime = false,
        },
        new("demo", "demo", "the snapshot round trip on a busybox bundle", DemoCommand.Run)
        {
            OwnFlags = FlagTable.Empty,
        },
        new(SubcontainerProxy.Command, $"{SubcontainerProxy.Command} ID SHIM-PID stdio|terminal",
            "stands for a runsc pod container's process towards containerd's runc shim (started by create)", SubcontainerProxy.Run)
        {
            OwnFlags = FlagTable.Empty, Hidden = true,
        },
        new("help", "help [COMMAND]", "csshim's commands and flags; help for other commands is the runtime's", HelpCommand.Run)
        {
            OwnFlags = FlagTable.Empty, NeedsRuntime = false,
        },
    ];

    public static ShimCommand? Find(string? name) => name is null ? null : All.FirstOrDefault(c => c.Name == name);

    public static ShimCommand Named(string name) => Find(name) ?? throw new InvalidOperationException($"no command {name} in the table");

    private static int InstallCall(CommandCall call) =>
        Install.InstallCommand.Run(call.First.SubcommandArgs, Console.Out, Console.Error, Router.SelfPath);
}
