namespace Csshim.OciSpec;

/// <summary>Which runtime's global-flag table decides where the global flags end.</summary>
public enum RuntimeFlavor { Runc, Runsc }

/// <summary>csshim's own global flags, consumed and never forwarded.</summary>
public sealed class ShimOptions
{
    public string? RuntimePath { get; set; }
    public string? ConfigPath { get; set; }
    public string? StateDir { get; set; }
    public string? UpperSize { get; set; }
    public List<string> TarDirs { get; } = new();
    public bool AllowRootfsTarAnnotation { get; set; }
}

/// <summary>
/// A runtime command line split as runc/runsc (Go flag rules) would split it:
/// global flags, subcommand, subcommand arguments. Tokens that are forwarded are kept verbatim.
/// </summary>
public sealed class RuntimeCommandLine
{
    public static RuntimeCommandLine Parse(IReadOnlyList<string> args, RuntimeFlavor flavor) => throw new NotImplementedException();

    public ShimOptions Shim { get; } = new();
    /// <summary>Global flag tokens to forward, verbatim, csshim's own removed.</summary>
    public IReadOnlyList<string> GlobalArgs { get; init; } = Array.Empty<string>();
    /// <summary>First non-flag word; null when there is none (e.g. `csshim --version`).</summary>
    public string? Subcommand { get; init; }
    /// <summary>Every token after the subcommand, verbatim.</summary>
    public IReadOnlyList<string> SubcommandArgs { get; init; } = Array.Empty<string>();

    /// <summary>Value of a global flag given as -x v, --x v, -x=v or --x=v (last wins); null if absent.</summary>
    public string? GlobalValue(string name) => throw new NotImplementedException();
    /// <summary>True when the global flag was given in any form (bool or valued).</summary>
    public bool HasGlobal(string name) => throw new NotImplementedException();
    public bool WantsVersion => throw new NotImplementedException();

    public string? Root => GlobalValue("root");
    public string? LogPath => GlobalValue("log");
    public string? LogFormat => GlobalValue("log-format");

    /// <summary>argv for the real runtime (without argv[0]): extra globals first, then GlobalArgs, subcommand, SubcommandArgs.</summary>
    public IReadOnlyList<string> ToRuntimeArgs(IEnumerable<string>? extraGlobals = null, IReadOnlyList<string>? replacedSubcommandArgs = null) => throw new NotImplementedException();
}

/// <summary>The arguments of one subcommand, split into flags and positionals by that subcommand's flag table.</summary>
public sealed class SubcommandLine
{
    public static SubcommandLine Parse(string subcommand, IReadOnlyList<string> args, RuntimeFlavor flavor) => throw new NotImplementedException();

    public string Name { get; init; } = "";
    public IReadOnlyList<string> Positionals { get; init; } = Array.Empty<string>();
    public string? Value(string flag) => throw new NotImplementedException();
    public bool Has(string flag) => throw new NotImplementedException();
    /// <summary>The container id: the first positional (runc/runsc put it first for every command that takes one).</summary>
    public string? ContainerId => Positionals.Count > 0 ? Positionals[0] : null;
}
