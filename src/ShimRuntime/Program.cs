using Csshim.ShimRuntime;
using Csshim.ShimRuntime.Commands;

var log = new ShimLog();
try
{
    // Own flags can be found before the runtime is known: the flag tables agree on how to skip them.
    var first = Csshim.OciSpec.RuntimeCommandLine.Parse(args, Csshim.OciSpec.RuntimeFlavor.Runsc);
    log.WriteTo(first.LogPath, first.LogFormat);
    // install registers csshim itself; it must work before any runtime is installed.
    if (first.Subcommand == "install")
        return Csshim.ShimRuntime.Install.InstallCommand.Run(first.SubcommandArgs, Console.Out, Console.Error, CommandRouter.SelfPath);
    var invocation = Invocation.Resolve(args, first);
    return CommandRouter.Dispatch(invocation, log);
}
catch (ShimException e)
{
    log.Error(e.Message);
    return e.ExitCode;
}
catch (ArgumentException e)
{
    log.Error(e.Message);
    return 2;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    log.Error(e.Message);
    return 1;
}
catch (Exception e)
{
    // A bug, not an expected failure: still an error line the caller's log shows, with the trace on stderr.
    log.Error($"internal error: {e.Message}");
    Console.Error.WriteLine(e);
    return 1;
}
