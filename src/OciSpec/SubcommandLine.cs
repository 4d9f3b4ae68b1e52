namespace Csshim.OciSpec;

/// <summary>The arguments of one subcommand, split into flags and positionals by that subcommand's flag table.</summary>
/// <remarks>
/// Go flag semantics: flags end at the first positional or at `--`; everything after is positional (so
/// `exec ID sh -c x` keeps `-c`). runc first moves the subcommand's known flags in front of the positionals
/// (urfave/cli's reorder, not for exec), so `runc delete ID --force` is a forced delete; that is reproduced.
/// A command with a verb (`tar rootfs-upper [flags] ID`, runsc's and csshim's) has Positionals
/// ["rootfs-upper", ID], Verb "rootfs-upper" and ContainerId the ID; the verb's flags may follow it.
/// </remarks>
public sealed class SubcommandLine
{
    private IReadOnlyList<ParsedFlag> flags = Array.Empty<ParsedFlag>();
    private FlagTable table = FlagTable.Empty;

    /// <summary>A runtime subcommand, by the runtime's own table and reordering rule.</summary>
    public static SubcommandLine Parse(string subcommand, IReadOnlyList<string> args, RuntimeFlavor flavor) =>
        Parse(subcommand, args, RuntimeFlagTables.ForSubcommand(subcommand, flavor), RuntimeFlagTables.Reorders(subcommand, flavor));

    /// <summary>A subcommand with a table of its own (a wrapper's commands). With <paramref name="verb"/> the first
    /// positional is a verb whose flags may follow it (`tar rootfs-upper --file F ID`).</summary>
    public static SubcommandLine Parse(string subcommand, IReadOnlyList<string> args, FlagTable table, bool reorders, bool verb = false)
    {
        var words = reorders ? UrfaveReorder(table, args) : args;
        var (flags, positionals, terminated) = ReadFlags(table, words, 0);
        var result = new List<ParsedFlag>(flags);
        string? verbWord = null;
        if (verb && positionals.Count > 0 && !terminated)
        {
            verbWord = positionals[0];
            var (verbFlags, rest, verbTerminated) = ReadFlags(table, positionals, 1);
            result.AddRange(verbFlags);
            positionals = [verbWord, .. rest];
            terminated = verbTerminated;
        }
        return new SubcommandLine
        {
            Name = subcommand,
            Positionals = positionals,
            flags = result,
            table = table,
            Verb = verbWord,
            SawTerminator = terminated,
            UnknownFlags = result.Where(f => !table.Knows(f.Name)).Select(f => f.Name).ToArray(),
        };
    }

    public string Name { get; init; } = "";
    public IReadOnlyList<string> Positionals { get; init; } = Array.Empty<string>();

    /// <summary>The flags as parsed, in order, with names as written (aliases not folded).</summary>
    public IReadOnlyList<ParsedFlag> Flags => flags;
    /// <summary>Flags not in the subcommand's table (the runtime would reject them).</summary>
    public IReadOnlyList<string> UnknownFlags { get; private init; } = Array.Empty<string>();
    /// <summary>True when `--` ended the flags (for a command whose positionals after `--` mean something else).</summary>
    public bool SawTerminator { get; private init; }
    /// <summary>For a command with a verb: the first positional ("rootfs-upper"); null otherwise.</summary>
    public string? Verb { get; private init; }

    /// <summary>The value of a flag by any of its names (`bundle` finds `-b B`); last one wins; a bool given without
    /// `=` reads as "true"; null when absent.</summary>
    public string? Value(string flag) => Find(flag)?.EffectiveValue;
    public bool Has(string flag) => Find(flag) is not null;
    /// <summary>A bool flag's value (`--force`, `--force=false`); false when absent or not a Go bool.</summary>
    public bool IsSet(string flag) => Find(flag) is { } f && FlagWord.ParseBool(f.EffectiveValue) == true;
    /// <summary>Every value of a repeatable flag (`--env A=1 -e B=2`), in order.</summary>
    public IReadOnlyList<string> Values(string flag)
    {
        var canonical = table.Canonical(flag);
        return flags.Where(f => table.Canonical(f.Name) == canonical).Select(f => f.EffectiveValue).ToArray();
    }

    /// <summary>The container id: the first positional (runc/runsc put it first for every command that takes one);
    /// for `tar rootfs-upper ID` the one after the verb.</summary>
    public string? ContainerId => Verb is null
        ? (Positionals.Count > 0 ? Positionals[0] : null)
        : (Positionals.Count > 1 ? Positionals[1] : null);

    private ParsedFlag? Find(string flag)
    {
        var canonical = table.Canonical(flag);
        return flags.LastOrDefault(f => table.Canonical(f.Name) == canonical);
    }

    /// <summary>Go's FlagSet.Parse from <paramref name="start"/>: flags until the first non-flag or `--`.</summary>
    private static (List<ParsedFlag> Flags, List<string> Positionals, bool Terminated) ReadFlags(
        FlagTable table, IReadOnlyList<string> words, int start)
    {
        var flags = new List<ParsedFlag>();
        var i = start;
        var terminated = false;
        while (i < words.Count)
        {
            var word = words[i];
            if (word == "--")
            {
                terminated = true;
                i++;
                break;
            }
            if (!FlagWord.TryRead(word, out var flag)) break;
            var next = i + 1 < words.Count ? words[i + 1] : null;
            var kind = table.KindOf(flag.Name);
            var takesNext = flag.InlineValue is null && FlagWord.TakesNext(kind, next);
            flags.Add(new ParsedFlag(flag.Name, takesNext ? next : flag.InlineValue, kind, i, takesNext ? 2 : 1));
            i += takesNext ? 2 : 1;
        }
        return (flags, words.Skip(i).ToList(), terminated);
    }

    /// <summary>urfave/cli v1's reorderArgs: known flags (and the word after a flag written without `=`, unless it
    /// is itself a known flag) move to the front; everything from `--` on stays at the end.</summary>
    private static List<string> UrfaveReorder(FlagTable table, IReadOnlyList<string> args)
    {
        var moved = new List<string>();
        var rest = new List<string>();
        var mayBeValue = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var isFlag = IsKnownFlag(table, arg);
            if (mayBeValue && !isFlag)
            {
                mayBeValue = false;
                moved.Add(arg);
            }
            else if (arg == "--")
            {
                rest.Insert(0, "--");
                rest.AddRange(args.Skip(i + 1));
                break;
            }
            else if (isFlag)
            {
                moved.Add(arg);
                mayBeValue = !arg.Contains('=');
            }
            else
            {
                rest.Add(arg);
            }
        }
        moved.AddRange(rest);
        return moved;
    }

    private static bool IsKnownFlag(FlagTable table, string arg)
    {
        if (arg is "-" or "--" || !arg.StartsWith('-')) return false;
        var name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
        var eq = name.IndexOf('=');
        return table.Knows(eq < 0 ? name : name[..eq]);
    }
}
