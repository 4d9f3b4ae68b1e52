namespace Csshim.OciSpec;

/// <summary>Which runtime's global-flag table decides where the global flags end.</summary>
public enum RuntimeFlavor { Runc, Runsc }

/// <summary>
/// A runtime command line split as runc/runsc (Go flag rules) would split it:
/// global flags, subcommand, subcommand arguments. Tokens that are forwarded are kept verbatim.
/// </summary>
/// <remarks>
/// A wrapper in front of the runtime may claim global flags of its own (<c>consumed</c>): they are taken out of the
/// forwarded words wherever they stand among the globals. A global flag the runtime's table does not know, written
/// without `=` and followed by a word, is read as a bool: Go's flag package would reject it anyway, so the runtime
/// reports the real error. Such a line is <see cref="IsAmbiguous"/>: whether the next word is the flag's value or the
/// subcommand cannot be known, so a caller that would act on the subcommand can refuse instead of guessing.
/// </remarks>
public sealed class RuntimeCommandLine
{
    private IReadOnlyList<ParsedFlag> globals = Array.Empty<ParsedFlag>();

    /// <summary>Split argv (without argv[0]). Throws ArgumentException when a consumed flag is malformed.</summary>
    public static RuntimeCommandLine Parse(IReadOnlyList<string> args, RuntimeFlavor flavor, FlagTable? consumed = null)
    {
        var table = RuntimeFlagTables.Globals(flavor);
        consumed ??= FlagTable.Empty;
        var own = new List<ParsedFlag>();
        var forwarded = new List<string>();
        var flags = new List<ParsedFlag>();
        var ambiguous = new List<string>();
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
            if (consumed.Knows(flag.Name))
            {
                own.Add(ReadConsumed(consumed, flag, word, next, i));
                i += own[^1].WordCount;
                continue;
            }
            var kind = table.KindOf(flag.Name);
            var takesNext = flag.InlineValue is null && FlagWord.TakesNext(kind, next);
            if (!table.Knows(flag.Name) && flag.InlineValue is null && next is not null && !FlagWord.LooksLikeFlag(next))
                ambiguous.Add(flag.Name);
            flags.Add(new ParsedFlag(flag.Name, takesNext ? next : flag.InlineValue, kind, forwarded.Count, takesNext ? 2 : 1));
            forwarded.Add(word);
            if (takesNext) forwarded.Add(next!);
            i += takesNext ? 2 : 1;
        }
        return new RuntimeCommandLine
        {
            globals = flags,
            Consumed = own,
            AmbiguousGlobals = ambiguous,
            GlobalArgs = forwarded,
            Subcommand = i < args.Count ? args[i] : null,
            SubcommandArgs = i < args.Count ? args.Skip(i + 1).ToArray() : Array.Empty<string>(),
        };
    }

    private static ParsedFlag ReadConsumed(FlagTable consumed, FlagWord flag, string word, string? next, int index)
    {
        var name = consumed.Canonical(flag.Name);
        if (consumed.KindOf(flag.Name) == FlagKind.Bool)
        {
            if (flag.InlineValue is not null && FlagWord.ParseBool(flag.InlineValue) is null)
                throw new ArgumentException($"invalid boolean value \"{flag.InlineValue}\" for {word}");
            return new ParsedFlag(name, flag.InlineValue, FlagKind.Bool, index, 1);
        }
        if (flag.InlineValue is not null) return new ParsedFlag(name, flag.InlineValue, FlagKind.Value, index, 1);
        return new ParsedFlag(name, next ?? throw new ArgumentException($"flag needs an argument: {word}"), FlagKind.Value, index, 2);
    }

    /// <summary>The consumed flags found, in order, by canonical name (never forwarded).</summary>
    public IReadOnlyList<ParsedFlag> Consumed { get; private init; } = Array.Empty<ParsedFlag>();
    /// <summary>Global flags unknown to the runtime's table that may have taken the next word as their value.</summary>
    public IReadOnlyList<string> AmbiguousGlobals { get; private init; } = Array.Empty<string>();
    /// <summary>True when an unknown global flag makes it impossible to tell which word is the subcommand.</summary>
    public bool IsAmbiguous => AmbiguousGlobals.Count > 0;
    /// <summary>Global flag tokens to forward, verbatim, consumed ones removed.</summary>
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
