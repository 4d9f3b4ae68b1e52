using Csshim.ShimRuntime;
using Csshim.ShimRuntime.Commands;

var log = new ShimLog();
try
{
    var invocation = Invocation.Resolve(args, log);
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
