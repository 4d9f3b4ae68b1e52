namespace Csshim.ShimRuntime.Staging;

/// <summary>Mount points of csshim's mount namespace, read from /proc/self/mountinfo.</summary>
internal static class MountTable
{
    public static IReadOnlyList<string> MountPoints()
    {
        var points = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4) points.Add(Unescape(fields[4]));
        }
        return points;
    }

    public static bool IsMountPoint(string path) => MountPoints().Contains(Path.TrimEndingDirectorySeparator(path));

    /// <summary>Mount points at or below dir, deepest first (the order to unmount them in).</summary>
    public static IReadOnlyList<string> MountsUnder(string dir)
    {
        dir = Path.TrimEndingDirectorySeparator(dir);
        return MountPoints()
            .Where(p => p == dir || p.StartsWith(dir + "/", StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(p => p.Length)
            .ToList();
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as \ooo octal.</summary>
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
