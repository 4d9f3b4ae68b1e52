using Csshim.ShimRuntime.Commands;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;

namespace Csshim.ShimRuntime.Cli;

/// <summary>Which calls csshim acts on (the <see cref="CommandTable"/>); everything else goes to the runtime
/// unchanged, by exec.</summary>
internal static class Router
{
    public static int Dispatch(CommandCall call)
    {
        // install and help are routed on the first split: they must not need a runtime.
        if (CommandTable.Find(call.First.Subcommand) is { NeedsRuntime: false } early) return early.Run(call);
        var invocation = call.Invocation;
        UnparsedCreate.RefuseIfAmbiguous(invocation, call.Argv);
        // runsc pod containers under containerd's runc shim need a different create/start/delete (see the bridge).
        if (RunscSubcontainers.Handles(invocation)) return RunscSubcontainers.Run(call);
        if (invocation.Command.Subcommand is null && invocation.Command.WantsVersion) return VersionCommand.Run(call);
        return CommandTable.Find(invocation.Command.Subcommand) is { } command ? command.Run(call) : Forward(invocation);
    }

    public static string SelfPath => Environment.ProcessPath ?? throw new ShimException("cannot tell csshim's own path");

    /// <summary>Replace csshim with the runtime: same PID, fds, signals and exit status.</summary>
    public static int Forward(Invocation invocation)
    {
        RuntimeProcess.Exec(invocation.Runtime.Path, invocation.RuntimeArgs());
        return 1; // Exec returns only by throwing
    }
}
