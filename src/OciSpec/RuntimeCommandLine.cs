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
    public string? MaxEntries { get; set; }
    public List<string> TarDirs { get; } = new();
    public bool AllowRootfsTarAnnotation { get; set; }

    /// <summary>The valued own flags, by name; `--shim-tar-dir` may be repeated.</summary>
    internal static readonly IReadOnlyDictionary<string, Action<ShimOptions, string>> Valued =
        new Dictionary<string, Action<ShimOptions, string>>(StringComparer.Ordinal)
        {
            ["shim-runtime"] = (o, v) => o.RuntimePath = v,
            ["shim-config"] = (o, v) => o.ConfigPath = v,
            ["shim-state-dir"] = (o, v) => o.StateDir = v,
            ["shim-upper-size"] = (o, v) => o.UpperSize = v,
            ["shim-max-entries"] = (o, v) => o.MaxEntries = v,
            ["shim-tar-dir"] = (o, v) => o.TarDirs.Add(v),
        };

    /// <summary>runsc's own flag, which csshim takes over: it decides whether csshim honours the annotation.</summary>
    internal const string AllowAnnotationFlag = "allow-rootfs-tar-annotation";
}

/// <summary>
/// A runtime command line split as runc/runsc (Go flag rules) would split it:
/// global flags, subcommand, subcommand arguments. Tokens that are forwarded are kept verbatim.
/// </summary>
/// <remarks>
/// A global flag the table does not know, written without `=`, is read as a bool: Go's flag package would reject
/// it anyway, so the runtime reports the real error; reading it as a bool means the word after it is taken as the
/// subcommand and the call is forwarded unchanged (the runtime's own error reaches the caller) instead of csshim
/// swallowing a subcommand as a flag value and acting on the wrong word. Flags written `--x=v` are never ambiguous.
/// </remarks>
public sealed class RuntimeCommandLine
{
    private IReadOnlyList<ParsedFlag> globals = Array.Empty<ParsedFlag>();

    /// <summary>Split argv (without argv[0]). Throws ArgumentException when one of csshim's own flags is malformed.</summary>
    public static RuntimeCommandLine Parse(IReadOnlyList<string> args, RuntimeFlavor flavor)
    {
        var table = RuntimeFlagTables.Globals(flavor);
        var shim = new ShimOptions();
        var forwarded = new List<string>();
        var flags = new List<ParsedFlag>();
        var i = 0;
        while (i < args.Count)
        {
            var word = args[i];
            if (word == "--")
            {
                forwarded.Add(word); // the runtime applies the same rule; forwarding keeps argv as the caller wrote it
                i++;
                break;
            }
            if (!FlagWord.LooksLikeFlag(word)) break;
            if (!FlagWord.TryRead(word, out var flag))
            {
                forwarded.Add(word); // bad syntax (`---x`, `-=v`): the runtime will say so
                i++;
                continue;
            }
            var next = i + 1 < args.Count ? args[i + 1] : null;
            if (ShimOptions.Valued.TryGetValue(flag.Name, out var set))
            {
                var value = flag.InlineValue ?? next ?? throw new ArgumentException($"flag needs an argument: {word}");
                set(shim, value);
                i += flag.InlineValue is null ? 2 : 1;
                continue;
            }
            if (flag.Name == ShimOptions.AllowAnnotationFlag)
            {
                shim.AllowRootfsTarAnnotation = flag.InlineValue is null || (FlagWord.ParseBool(flag.InlineValue)
                    ?? throw new ArgumentException($"invalid boolean value \"{flag.InlineValue}\" for {word}"));
                i++;
                continue;
            }
            var kind = table.KindOf(flag.Name);
            var takesNext = flag.InlineValue is null && FlagWord.TakesNext(kind, next);
            flags.Add(new ParsedFlag(flag.Name, takesNext ? next : flag.InlineValue, kind, forwarded.Count, takesNext ? 2 : 1));
            forwarded.Add(word);
            if (takesNext) forwarded.Add(next!);
            i += takesNext ? 2 : 1;
        }
        return new RuntimeCommandLine
        {
            globals = flags,
            Shim = shim,
            GlobalArgs = forwarded,
            Subcommand = i < args.Count ? args[i] : null,
            SubcommandArgs = i < args.Count ? args.Skip(i + 1).ToArray() : Array.Empty<string>(),
        };
    }

    public ShimOptions Shim { get; private init; } = new();
    /// <summary>Global flag tokens to forward, verbatim, csshim's own removed.</summary>
    public IReadOnlyList<string> GlobalArgs { get; init; } = Array.Empty<string>();
    /// <summary>First non-flag word; null when there is none (e.g. `csshim --version`).</summary>
    public string? Subcommand { get; init; }
    /// <summary>Every token after the subcommand, verbatim.</summary>
    public IReadOnlyList<string> SubcommandArgs { get; init; } = Array.Empty<string>();

    /// <summary>The forwarded global flags as parsed, in order.</summary>
    public IReadOnlyList<ParsedFlag> GlobalFlags => globals;

    /// <summary>Value of a global flag given as -x v, --x v, -x=v or --x=v (last wins); null if absent.
    /// A bool flag given without `=` reads as "true".</summary>
    public string? GlobalValue(string name) => globals.LastOrDefault(f => f.Name == name)?.EffectiveValue;
    /// <summary>True when the global flag was given in any form (bool or valued).</summary>
    public bool HasGlobal(string name) => globals.Any(f => f.Name == name);

    /// <summary>`--version`/`-v` (runc, crun `-V`) as a global flag; `--version=false` does not count.</summary>
    public bool WantsVersion => globals.LastOrDefault(f => f.Name is "version" or "v" or "V") is { } f
        && FlagWord.ParseBool(f.EffectiveValue) == true;

    public string? Root => GlobalValue("root");
    public string? LogPath => GlobalValue("log");
    public string? LogFormat => GlobalValue("log-format");

    /// <summary>argv for the real runtime (without argv[0]): extra globals first, then GlobalArgs, subcommand, SubcommandArgs.</summary>
    public IReadOnlyList<string> ToRuntimeArgs(IEnumerable<string>? extraGlobals = null, IReadOnlyList<string>? replacedSubcommandArgs = null)
    {
        var argv = new List<string>();
        if (extraGlobals is not null) argv.AddRange(extraGlobals);
        argv.AddRange(GlobalArgs);
        if (Subcommand is not null) argv.Add(Subcommand);
        argv.AddRange(replacedSubcommandArgs ?? SubcommandArgs);
        return argv;
    }
}
