using Csshim.OciSpec;
using Csshim.ShimRuntime;
using Csshim.ShimRuntime.Cli;

var log = new ShimLog();
PosixHelperLibrary.LoadFromBesideTheBinary();
try
{
    // argv as the caller's bytes, so that what is forwarded is exactly what arrived.
    var argv = RawArgv.Read(args);
    // Own flags can be found before the runtime is known: the flag tables agree on how to skip them.
    var first = RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runsc, ShimFlags.Table);
    log.WriteTo(first.LogPath, first.LogFormat);
    return Router.Dispatch(new CommandCall(argv, first, log));
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
