namespace Csshim.OciSpec;

/// <summary>How a flag consumes its value under Go's `flag` package.</summary>
public enum FlagKind
{
    /// <summary>Never takes the next word; `--f=false` is allowed.</summary>
    Bool,
    /// <summary>Takes `--f=v` or the next word, whatever it looks like.</summary>
    Value,
    /// <summary>
    /// A flag that is a duration in one runsc release and a bool in another (runsc's `--gvisor-gro`): it takes the
    /// next word only when that word starts with a digit, which no subcommand or flag does.
    /// </summary>
    DurationOrBool,
}

/// <summary>One word of a command line read as a Go flag: `-name`, `--name` or either with `=value`.</summary>
public readonly record struct FlagWord(string Name, string? InlineValue)
{
    /// <summary>Go `flag` syntax: one or two dashes, then a name that neither is empty nor starts with `-` or `=`.
    /// `-` alone and anything not starting with a dash are not flags; `--` is the terminator (handled by callers).</summary>
    public static bool TryRead(string word, out FlagWord flag)
    {
        flag = default;
        if (word.Length < 2 || word[0] != '-' || word == "--") return false;
        var dashes = word[1] == '-' ? 2 : 1;
        var body = word[dashes..];
        if (body.Length == 0 || body[0] == '-' || body[0] == '=') return false;
        var eq = body.IndexOf('=');
        flag = eq < 0 ? new FlagWord(body, null) : new FlagWord(body[..eq], body[(eq + 1)..]);
        return true;
    }

    /// <summary>True when the word starts with a dash, so Go's flag package would try to read it as a flag.</summary>
    public static bool LooksLikeFlag(string word) => word.Length >= 2 && word[0] == '-';

    /// <summary>Go's strconv.ParseBool, which the flag package uses for `--b=value`.</summary>
    public static bool? ParseBool(string value) => value switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => null,
    };

    public static bool TakesNext(FlagKind kind, string? next) => kind switch
    {
        FlagKind.Value => next is not null,
        FlagKind.DurationOrBool => next is { Length: > 0 } && char.IsAsciiDigit(next[0]),
        _ => false,
    };
}

/// <summary>A flag found on a command line, with where its words are.</summary>
public sealed record ParsedFlag(string Name, string? Value, FlagKind Kind, int Index, int WordCount)
{
    /// <summary>The flag's value; a bool flag given without `=` reads as "true".</summary>
    public string EffectiveValue => Value ?? "true";
}
