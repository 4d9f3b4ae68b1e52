namespace Csshim.ShimRuntime.Staging;

/// <summary>One line of /proc/self/mountinfo: the per-mount options (ro, nosuid, relatime...) and the filesystem's
/// own (super) options apart.</summary>
internal sealed record MountEntry(long Id, string Root, string MountPoint, IReadOnlyList<string> MountOptions, string FsType,
    string Source, IReadOnlyList<string> SuperOptions)
{
    /// <summary>The value of a `key=value` super option (overlay's upperdir=...), unescaped; null when absent.</summary>
    public string? SuperOption(string key) =>
        SuperOptions.FirstOrDefault(o => o.StartsWith(key + "=", StringComparison.Ordinal))?[(key.Length + 1)..];
}

/// <summary>Mounts of csshim's mount namespace, read from /proc/self/mountinfo. Paths there are always canonical
/// (symlinks resolved): callers compare them with canonical paths only.</summary>
internal static class MountTable
{
    public static IReadOnlyList<MountEntry> Entries()
    {
        var entries = new List<MountEntry>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-", 6);
            if (fields.Length < 5 || dash < 0 || dash + 3 >= fields.Length) continue;
            entries.Add(new MountEntry(long.Parse(fields[0]), Unescape(fields[3]), Unescape(fields[4]), fields[5].Split(','),
                fields[dash + 1], Unescape(fields[dash + 2]), fields[dash + 3].Split(',').Select(Unescape).ToArray()));
        }
        return entries;
    }

    /// <summary>mountinfo writes space, tab, newline, backslash (and overlay's ',' in options) as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var sb = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(field[i]);
        }
        return sb.ToString();
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s.Skip(at).Take(3).All(c => c is >= '0' and <= '7');
}
