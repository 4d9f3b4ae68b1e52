namespace Csshim.OciSpec;

/// <summary>
/// The flags one command knows, by every name it answers to (aliases map to the first, canonical, name).
/// Bools must be listed too where the runtime reorders arguments (runc's urfave/cli moves only known flags).
/// </summary>
public sealed class FlagTable
{
    private readonly Dictionary<string, (string Canonical, FlagKind Kind)> byName = new(StringComparer.Ordinal);

    public static readonly FlagTable Empty = new();

    /// <summary>A table from specs like "bundle,b" (names separated by commas, canonical first).</summary>
    public static FlagTable Of(string[] valued, string[]? bools = null, string[]? durationOrBool = null)
    {
        var t = new FlagTable();
        foreach (var spec in valued) t.Add(spec, FlagKind.Value);
        foreach (var spec in bools ?? []) t.Add(spec, FlagKind.Bool);
        foreach (var spec in durationOrBool ?? []) t.Add(spec, FlagKind.DurationOrBool);
        return t;
    }

    private void Add(string spec, FlagKind kind)
    {
        var names = spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names) byName[n] = (names[0], kind);
    }

    public bool Knows(string name) => byName.ContainsKey(name);

    /// <summary>Kind of a known flag; unknown flags read as bool (see RuntimeCommandLine for why).</summary>
    public FlagKind KindOf(string name) => byName.TryGetValue(name, out var e) ? e.Kind : FlagKind.Bool;

    /// <summary>The canonical name of a flag, or the name itself when unknown.</summary>
    public string Canonical(string name) => byName.TryGetValue(name, out var e) ? e.Canonical : name;
}
