namespace Csshim.Tests.Rig;

/// <summary>A real OCI runtime on this machine and the global flags it needs here.</summary>
public sealed record RuntimeUnderTest(string Name, string Path, IReadOnlyList<string> GlobalArgs, bool IsRunsc)
{
    public const string Runsc2022 = "runsc-2022";
    public const string Runsc2024 = "runsc-2024";
    public const string Runc = "runc";

    /// <summary>Names for [TestFixtureSource]; a runtime missing on this machine is ignored in SetUp, not dropped.</summary>
    public static readonly string[] Names = { Runsc2022, Runsc2024, Runc };

    /// <summary>Where test/tools/fetch-runsc-2024.sh puts Debian's 2024 runsc.</summary>
    public static string Runsc2024Path =>
        System.IO.Path.Combine(Rig.RepoRoot.Path, ".tools", "runsc-2024", "usr", "bin", "runsc");


    // Debian's runsc thinks every netns is the root one on this kernel and refuses networking.
    private static readonly string[] RunscGlobals = { "--network=none" };

    public static RuntimeUnderTest ByName(string name) => name switch
    {
        Runsc2022 => new(name, "/usr/bin/runsc", RunscGlobals, true),
        Runsc2024 => new(name, Runsc2024Path, RunscGlobals, true),
        Runc => new(name, "/usr/sbin/runc", Array.Empty<string>(), false),
        _ => throw new ArgumentException($"unknown runtime {name}"),
    };

    public bool IsPresent => File.Exists(Path);

    public string MissingReason => Name == Runsc2024
        ? $"{Path} missing: run test/tools/fetch-runsc-2024.sh"
        : $"{Path} missing: run test/tools/install-test-deps.sh";

    public override string ToString() => Name;
}
