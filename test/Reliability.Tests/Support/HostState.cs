namespace Csshim.Reliability.Tests.Support;

/// <summary>What the host looks like from this process's mount namespace (the one csshim mounts in).</summary>
public static class HostState
{
    /// <summary>Mount points at or below dir, deepest first (the order to unmount them in).</summary>
    public static List<string> MountsUnder(string dir)
    {
        dir = Path.TrimEndingDirectorySeparator(dir);
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Where(f => f.Length > 4)
            .Select(f => Unescape(f[4]))
            .Where(p => p == dir || p.StartsWith(dir + "/", StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(p => p.Length)
            .ToList();
    }

    /// <summary>The mount options (per-mount and superblock) of the mount at point.</summary>
    public static string MountOptions(string point)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            if (f.Length > 4 && Unescape(f[4]) == point) return f[5] + " " + f[^1];
        }
        throw new AssertionException($"{point} is not a mount point");
    }

    /// <summary>Processes whose argv contains every one of words (e.g. an orphaned runtime create of an id).</summary>
    public static List<int> ProcessesWith(params string[] words)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string[] argv;
            try { argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0'); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (words.All(argv.Contains)) found.Add(pid);
        }
        return found;
    }

    public static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        for (var deadline = DateTime.UtcNow + timeout; !condition(); Thread.Sleep(100))
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds} s waiting for {what}");
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && field.Substring(i + 1, 3).All(c => c is >= '0' and <= '7'))
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(field[i]);
        }
        return sb.ToString();
    }
}
