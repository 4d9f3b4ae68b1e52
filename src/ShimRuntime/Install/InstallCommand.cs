namespace Csshim.ShimRuntime.Install;

// Placeholder until the install helper lands its implementation (it owns this file).
public static class InstallCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, string selfPath)
    {
        stderr.WriteLine("csshim: install is not implemented yet");
        return 1;
    }
}
