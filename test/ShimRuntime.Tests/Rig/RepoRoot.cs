namespace Csshim.Tests.Rig;

/// <summary>The checkout the tests run from (the directory holding runtime.sln above the test assembly), wherever
/// it was cloned: CI runs a fresh clone in another folder.</summary>
public static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "runtime.sln"))) return d.FullName;
        throw new InvalidOperationException($"no runtime.sln above {AppContext.BaseDirectory}");
    }
}
