using System.Text;
using System.Text.RegularExpressions;

namespace Csshim.ShimRuntime.Install;

/// <summary>A TOML value csshim writes: a basic string or an array of them, with its text.</summary>
internal sealed record TomlValue(string Text, IReadOnlyList<string>? Items)
{
    public static TomlValue String(string s) => new(TomlText.Quote(s), null);

    public static TomlValue Strings(IEnumerable<string> items)
    {
        var list = items.ToList();
        return new TomlValue("[" + string.Join(", ", list.Select(TomlText.Quote)) + "]", list);
    }
}

/// <summary>A `key = value` under a table: its lines (a multi-line array spans several) and its value's text.</summary>
internal sealed record TomlEntry(string Key, int FirstLine, int LastLine, string Indent, string ValueText);

/// <summary>A `[table]` header, the lines up to the next header, and the entries among them.</summary>
internal sealed record TomlTable(string[] Path, int HeaderLine, int EndLine, string Indent, IReadOnlyList<TomlEntry> Entries)
{
    /// <summary>The line after the table's last entry (or its header): where a key or a following table goes, before
    /// the blank lines and comments that lead to the next header.</summary>
    public int InsertLine => (Entries.Count > 0 ? Entries[^1].LastLine : HeaderLine) + 1;
}

/// <summary>
/// config.toml as lines, read just far enough to find `[table]` headers and the keys under them (including values
/// that span lines: arrays, multi-line strings), and edited line by line so the rest of the file keeps every byte.
/// Each edit reads the lines again: nothing goes stale between two edits.
/// </summary>
internal sealed class TomlDocument(string text)
{
    private readonly List<string> lines = [.. text.Split('\n')];

    public string Text => string.Join('\n', lines);

    public TomlTable? Table(string[] path) => Tables().FirstOrDefault(t => t.Path.SequenceEqual(path));

    /// <summary>Sets each key of the table at path, returning what changed. A string array keeps the items it has and
    /// gains the missing ones (an operator's own patterns stay); a value csshim cannot read is replaced.</summary>
    public IEnumerable<string> SetKeys(string[] path, IEnumerable<(string Key, TomlValue Value)> keys)
    {
        var changes = new List<string>();
        foreach (var (key, wanted) in keys)
        {
            var table = Table(path) ?? throw new InvalidOperationException($"table {TomlText.Key(path)} vanished");
            var entry = table.Entries.LastOrDefault(e => e.Key == key);
            if (entry is null)
            {
                var indent = table.Entries.Count > 0 ? table.Entries[0].Indent : table.Indent + "  ";
                lines.Insert(table.InsertLine, $"{indent}{key} = {wanted.Text}");
                changes.Add($"added {key}");
                continue;
            }
            var merged = Merge(entry.ValueText, wanted, out var change);
            if (change is null) continue;
            lines.RemoveRange(entry.FirstLine, entry.LastLine - entry.FirstLine + 1);
            lines.Insert(entry.FirstLine, $"{entry.Indent}{key} = {merged.Text}");
            changes.Add($"{key}: {change}");
        }
        return changes;
    }

    private static TomlValue Merge(string current, TomlValue wanted, out string? change)
    {
        if (wanted.Items is null)
        {
            change = TomlText.Unquote(current) == TomlText.Unquote(wanted.Text) ? null : $"{current} -> {wanted.Text}";
            return wanted;
        }
        if (TomlText.StringItems(current) is not { } have)
        {
            change = $"{current} -> {wanted.Text}";
            return wanted;
        }
        var missing = wanted.Items.Where(i => !have.Contains(i)).ToList();
        change = missing.Count == 0 ? null : "added " + string.Join(", ", missing.Select(TomlText.Quote));
        return TomlValue.Strings([.. have, .. missing]);
    }

    public void InsertAfter(string[] path, string block)
    {
        var table = Table(path)!;
        lines.InsertRange(table.InsertLine, block.TrimEnd('\n').Split('\n'));
    }

    public void InsertBefore(string[] path, string block)
    {
        var table = Table(path)!;
        lines.InsertRange(table.HeaderLine, block.TrimEnd('\n').Split('\n'));
    }

    /// <summary>A block at the end of the file, one blank line after what is there.</summary>
    public void Append(string block)
    {
        var text = Text;
        var prefix = text switch
        {
            "" => "",
            _ when text.EndsWith("\n\n", StringComparison.Ordinal) => "",
            _ when text.EndsWith('\n') => "\n",
            _ => "\n\n",
        };
        lines.Clear();
        lines.AddRange((text + prefix + block).Split('\n'));
    }

    private List<TomlTable> Tables()
    {
        var tables = new List<TomlTable>();
        string[]? path = null;
        int header = -1;
        string indent = "";
        var entries = new List<TomlEntry>();
        void Close(int end)
        {
            if (path is not null) tables.Add(new TomlTable(path, header, end, indent, entries));
        }

        for (int i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            if (TomlText.Header(line) is { } h)
            {
                Close(i);
                path = h.Path;
                header = i;
                indent = h.Indent;
                entries = [];
                continue;
            }
            if (line.TrimStart().StartsWith("[[", StringComparison.Ordinal))
            {
                Close(i);
                path = null; // an array of tables: nothing csshim edits
                continue;
            }
            if (TomlText.KeyValueStart(line) is not { } kv) continue;
            int last = TomlText.ValueEnd(lines, i, kv.ValueStart, out var valueText);
            if (path is not null) entries.Add(new TomlEntry(kv.Key, i, last, kv.Indent, valueText));
            i = last;
        }
        Close(lines.Count);
        return tables;
    }
}

/// <summary>The bits of TOML syntax csshim reads and writes.</summary>
internal static partial class TomlText
{
    private const string KeyPart = @"(?:[A-Za-z0-9_-]+|""[^""]*""|'[^']*')";

    [GeneratedRegex(@"^(?<indent>\s*)\[(?!\[)(?<key>[^\]]*)\]\s*(#.*)?$")]
    private static partial Regex HeaderPattern();

    [GeneratedRegex(@"^(?<indent>\s*)(?<key>" + KeyPart + @"(?:\s*\.\s*" + KeyPart + @")*)\s*=\s*")]
    private static partial Regex KeyValuePattern();

    public static (string[] Path, string Indent)? Header(string line)
    {
        var m = HeaderPattern().Match(line);
        return m.Success && SplitKey(m.Groups["key"].Value) is { } path ? (path, m.Groups["indent"].Value) : null;
    }

    /// <summary>A line that starts a `key = value`: the key (dotted keys joined by '.', quotes removed), its indent
    /// and where the value starts.</summary>
    public static (string Key, string Indent, int ValueStart)? KeyValueStart(string line)
    {
        var m = KeyValuePattern().Match(line);
        if (!m.Success || SplitKey(m.Groups["key"].Value) is not { } parts) return null;
        return (string.Join('.', parts), m.Groups["indent"].Value, m.Length);
    }

    /// <summary>The last line of the value that starts at lines[first][start..], and the value's text without the
    /// trailing comment: brackets are counted outside strings, so an array may span lines; so may a `"""` or `'''`
    /// string.</summary>
    public static int ValueEnd(IReadOnlyList<string> lines, int first, int start, out string valueText)
    {
        var text = new StringBuilder();
        int depth = 0;
        string? openString = null;
        for (int i = first; i < lines.Count; i++)
        {
            var line = lines[i];
            int j = i == first ? start : 0;
            int end = line.Length;
            for (; j < line.Length; j++)
            {
                char c = line[j];
                if (openString is not null)
                {
                    if (openString[0] == '"' && c == '\\') { j++; continue; }
                    if (string.CompareOrdinal(line, j, openString, 0, openString.Length) == 0)
                    {
                        j += openString.Length - 1;
                        openString = null;
                    }
                    continue;
                }
                if (c == '#') { end = j; break; }
                if (c is '"' or '\'')
                    openString = string.CompareOrdinal(line, j, new string(c, 3), 0, 3) == 0 ? new string(c, 3) : c.ToString();
                if (openString is { Length: 3 }) j += 2;
                else if (c == '[' || c == '{') depth++;
                else if (c == ']' || c == '}') depth--;
            }
            text.Append(line.AsSpan(i == first ? start : 0, Math.Max(0, end - (i == first ? start : 0))));
            if (depth <= 0 && openString is null)
            {
                valueText = text.ToString().Trim();
                return i;
            }
            text.Append('\n');
        }
        valueText = text.ToString().Trim();
        return lines.Count - 1;
    }

    /// <summary>The items of an array of plain strings (`["a", 'b']`, possibly over several lines), or null.</summary>
    public static List<string>? StringItems(string value)
    {
        var v = value.Trim();
        if (v.Length < 2 || v[0] != '[' || v[^1] != ']') return null;
        var items = new List<string>();
        foreach (var raw in v[1..^1].Split(',').Select(s => s.Trim()).Where(s => s.Length > 0))
        {
            if (raw[0] is not ('"' or '\'') || Unquote(raw) is not { } item) return null;
            items.Add(item);
        }
        return items;
    }

    /// <summary>The top-level `version = N` (before the first table), or null.</summary>
    public static int? TopLevelVersion(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (Header(line) is not null || line.TrimStart().StartsWith('[')) return null;
            if (KeyValueStart(line) is { Key: "version" } kv && int.TryParse(StripComment(line[kv.ValueStart..]), out var v)) return v;
        }
        return null;
    }

    private static string StripComment(string value) => (value.IndexOf('#') is var i and >= 0 ? value[..i] : value).Trim();

    /// <summary>A dotted TOML key split into its parts, quotes removed; null when it is not one we can read.</summary>
    public static string[]? SplitKey(string key)
    {
        var parts = new List<string>();
        var i = 0;
        while (true)
        {
            while (i < key.Length && key[i] is ' ' or '\t') i++;
            if (i >= key.Length) return null;
            int end;
            if (key[i] is '"' or '\'')
            {
                end = key.IndexOf(key[i], i + 1);
                if (end < 0) return null;
                parts.Add(key[(i + 1)..end]);
                end++;
            }
            else
            {
                end = i;
                while (end < key.Length && (char.IsAsciiLetterOrDigit(key[end]) || key[end] is '_' or '-')) end++;
                if (end == i) return null;
                parts.Add(key[i..end]);
            }
            i = end;
            while (i < key.Length && key[i] is ' ' or '\t') i++;
            if (i == key.Length) return parts.ToArray();
            if (key[i] != '.') return null;
            i++;
        }
    }

    /// <summary>A TOML basic or literal string without escapes other than \\ and \", or null for anything else.</summary>
    public static string? Unquote(string value)
    {
        value = value.Trim();
        if (value.Length < 2 || !(value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\'')) return null;
        var inner = value[1..^1];
        return value[0] == '"' && inner.Contains('\\') ? inner.Replace("\\\\", "\\").Replace("\\\"", "\"") : inner;
    }

    /// <summary>A dotted key for a table header, each part bare when it can be, quoted otherwise.</summary>
    public static string Key(IEnumerable<string> path) =>
        string.Join('.', path.Select(p => p.Length > 0 && p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? p : Quote(p)));

    public static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
