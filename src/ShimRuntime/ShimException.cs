namespace Csshim.ShimRuntime;

/// <summary>A failure of csshim itself (not of the runtime): reported on stderr and in the --log file.</summary>
internal class ShimException(string message, int exitCode = 1, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Bad command-line usage: exit status 2, as runc and runsc use for usage errors.</summary>
internal sealed class ShimUsageException(string message) : ShimException(message, 2);
