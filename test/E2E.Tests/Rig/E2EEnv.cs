namespace Csshim.E2E.Rig;

/// <summary>Where the things under test live on this machine.</summary>
public static class E2EEnv
{
    public static string RepoRoot => global::Csshim.Tests.Rig.RepoRoot.Path;

    /// <summary>The csshim binary under test: CSSHIM_BIN, else test.sh's published artifact.</summary>
    public static string? Csshim { get; } = FindCsshim();

    public static string Docker26Dir => Path.Combine(RepoRoot, ".tools", "docker26");
    public static string Dockerd => Path.Combine(Docker26Dir, "usr", "sbin", "dockerd");
    public static string DockerCli => Path.Combine(Docker26Dir, "usr", "bin", "docker");

    public const string Runsc = "/usr/bin/runsc";
    public const string Runc = "/usr/sbin/runc";
    public const string Busybox = "/bin/busybox";

    public static string RequireCsshim()
    {
        if (Csshim == null)
            NUnit.Framework.Assert.Fail("csshim binary not found: set CSSHIM_BIN or run test.sh (publishes artifacts/csshim/csshim)");
        return Csshim!;
    }

    public static void RequireRoot()
    {
        if (Environment.UserName != "root" && Cmd.Run("id", "-u").Stdout.Trim() != "0")
            NUnit.Framework.Assert.Ignore("E2E tests start daemons and mount filesystems: run as root");
    }

    public static void RequireExecutable(string path, string hint)
    {
        if (!File.Exists(path))
            NUnit.Framework.Assert.Ignore($"{path} missing: {hint}");
    }

    static string? FindCsshim()
    {
        var env = Environment.GetEnvironmentVariable("CSSHIM_BIN");
        if (!string.IsNullOrEmpty(env)) return env;
        var published = Path.Combine(RepoRoot, "artifacts", "csshim", "csshim");
        return File.Exists(published) ? published : null;
    }
}
