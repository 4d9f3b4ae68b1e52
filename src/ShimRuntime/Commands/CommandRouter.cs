namespace Csshim.ShimRuntime.Commands;

/// <summary>Which calls csshim acts on; everything else goes to the runtime unchanged, by exec.</summary>
internal static class CommandRouter
{
    public static int Dispatch(Invocation invocation, ShimLog log)
    {
        if (RunscSubcontainers.Handles(invocation)) return RunscSubcontainers.Run(invocation, log);
        switch (invocation.Command.Subcommand)
        {
            case null when invocation.Command.WantsVersion:
                return VersionCommand.Run(invocation);
            case "create":
            case "run":
                return CreateCommand.Run(invocation, log);
            case "delete":
                return DeleteCommand.Run(invocation, log);
            case "tar":
                return TarCommand.Run(invocation, log);
            case "kill":
                return RunscCompat.Kill(invocation);
            case "exec":
                return RunscCompat.Exec(invocation);
            case "features":
                return FeaturesCommand.Run(invocation);
            case "gc":
                return GcCommand.Run(invocation, log);
            case "demo":
                return DemoCommand.Run(invocation, log);
            default:
                return Forward(invocation);
        }
    }

    public static string SelfPath => Environment.ProcessPath ?? throw new ShimException("cannot tell csshim's own path");

    public static int Forward(Invocation invocation)
    {
        RuntimeProcess.Exec(invocation.Runtime.Path, invocation.RuntimeArgs());
        return 1; // Exec returns only by throwing
    }
}
