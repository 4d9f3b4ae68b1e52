namespace Csshim.Tests.Rig;

/// <summary>
/// One way of calling a runtime with a private `--root`: the runtime itself, or csshim in front of it with its
/// own state dir. Tests run the same commands through both and compare.
/// </summary>
public sealed class RuntimeCli
{
    public RuntimeUnderTest Runtime { get; }
    public string RootDir { get; }
    /// <summary>csshim's --shim-state-dir, or null when this is the runtime called directly.</summary>
    public string? ShimStateDir { get; }
    public string Exe { get; }
    private readonly List<string> prefix;

    private RuntimeCli(RuntimeUnderTest runtime, string rootDir, string? shimStateDir, string exe, List<string> prefix)
    {
        Runtime = runtime;
        RootDir = rootDir;
        ShimStateDir = shimStateDir;
        Exe = exe;
        this.prefix = prefix;
    }

    public bool IsShim => ShimStateDir != null;
    public string Label => IsShim ? $"csshim over {Runtime.Name}" : Runtime.Name;

    public static RuntimeCli Direct(RuntimeUnderTest runtime, string rootDir) =>
        new(runtime, rootDir, null, runtime.Path, runtime.GlobalArgs.Concat(new[] { "--root", rootDir }).ToList());

    /// <param name="rootEqualsForm">pass `--root=R` (one word) instead of `--root R`, as podman's runtime flags do.</param>
    public static RuntimeCli Shim(RuntimeUnderTest runtime, string rootDir, string stateDir, string csshim,
        bool rootEqualsForm = false) =>
        new(runtime, rootDir, stateDir, csshim,
            new[] { "--shim-runtime", runtime.Path, "--shim-state-dir", stateDir }
                .Concat(RestoreUnderTest.Flags(stateDir))
                .Concat(runtime.GlobalArgs)
                .Concat(rootEqualsForm ? new[] { "--root=" + rootDir } : new[] { "--root", rootDir }).ToList());

    /// <summary>Global arguments (runtime globals and --root) followed by <paramref name="args"/>.</summary>
    public IEnumerable<string> Args(IEnumerable<string> args) => prefix.Concat(args);

    /// <summary>As <see cref="Args"/> but with extra global flags (e.g. --log) before the subcommand.</summary>
    public IEnumerable<string> ArgsWithGlobals(IEnumerable<string> globals, IEnumerable<string> args) =>
        prefix.Concat(globals).Concat(args);

    public CommandResult Run(params string[] args) => ProcessRunner.Run(Exe, Args(args));

    public CommandResult RunWithGlobals(string[] globals, params string[] args) =>
        ProcessRunner.Run(Exe, ArgsWithGlobals(globals, args));

    /// <summary>Runs with <paramref name="workingDir"/> as the current directory (the default bundle).</summary>
    public CommandResult RunIn(string workingDir, params string[] args) =>
        ProcessRunner.Run(Exe, Args(args), workingDir: workingDir);

    public CommandResult RunTimed(TimeSpan timeout, params string[] args) => ProcessRunner.Run(Exe, Args(args), timeout);

    public RunningCommand Start(params string[] args) => RunningCommand.Start(Exe, Args(args));

    /// <summary>Started for a test that must see how the process ended (its raw wait status).</summary>
    public SpawnedCommand Spawn(params string[] args) => SpawnedCommand.Start(Exe, Args(args));
}
