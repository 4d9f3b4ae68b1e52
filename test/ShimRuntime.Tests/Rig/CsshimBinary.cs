using NUnit.Framework;

namespace Csshim.Tests.Rig;

/// <summary>Where the csshim under test is: $CSSHIM_BIN, else test.sh's publish output.</summary>
public static class CsshimBinary
{
    public static string DefaultPath => System.IO.Path.Combine(RepoRoot.Path, "artifacts", "csshim", "csshim");

    public static string Path => Environment.GetEnvironmentVariable("CSSHIM_BIN") is { Length: > 0 } p ? p : DefaultPath;

    public static string Require()
    {
        if (!File.Exists(Path))
            Assert.Ignore($"csshim binary {Path} not built (set CSSHIM_BIN or run test.sh)");
        return Path;
    }
}
