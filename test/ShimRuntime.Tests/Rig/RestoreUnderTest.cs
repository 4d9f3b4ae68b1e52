namespace Csshim.Tests.Rig;

/// <summary>
/// How the suites run csshim's restores: each csshim a test starts gets a layer cache of its own beside its state
/// dir (so no test meets another's entries, and the sandbox removes them), and, when CSSHIM_TEST_RESTORE is set
/// (`layer` or `copy`, as test.sh sets it for its second pass), that restore mode; otherwise csshim's default.
/// </summary>
public static class RestoreUnderTest
{
    public const string Variable = "CSSHIM_TEST_RESTORE";

    /// <summary>The mode asked for, or null for csshim's default (layer).</summary>
    public static string? Mode => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } mode ? mode : null;

    /// <summary>True when restores go through the layer cache (the default, or asked for).</summary>
    public static bool Layered => Mode is null or "layer";

    /// <summary>The layer cache of the csshim whose state dir is stateDir.</summary>
    public static string CacheDirFor(string stateDir) => stateDir.TrimEnd('/') + "-layers";

    /// <summary>csshim flags for a csshim with this state dir.</summary>
    public static string[] Flags(string stateDir) =>
        [$"--shim-cache-dir={CacheDirFor(stateDir)}", .. Mode is { } mode ? new[] { $"--shim-restore={mode}" } : []];

    /// <summary>The same as config file keys.</summary>
    public static IEnumerable<(string Key, string Value)> ConfigKeys(string stateDir) =>
        [("cacheDir", CacheDirFor(stateDir)), .. Mode is { } mode ? new[] { ("restore", mode) } : []];
}
