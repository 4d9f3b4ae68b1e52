using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`csshim --version`: csshim's version, then the runtime's own answer.</summary>
internal static class VersionCommand
{
    public static string Version =>
        typeof(VersionCommand).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        Console.Out.WriteLine($"csshim version {Version}");
        Console.Out.WriteLine($"runtime: {invocation.Runtime.Path}");
        Console.Out.Flush();
        return RuntimeProcess.Spawn(invocation.Runtime.Path, invocation.RuntimeArgs()).Propagate();
    }
}
