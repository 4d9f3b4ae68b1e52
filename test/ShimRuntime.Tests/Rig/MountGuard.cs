namespace Csshim.Tests.Rig;

/// <summary>
/// Mounts that belong to one test: those whose mount point or mount line (e.g. an overlay's lowerdir) names the
/// test's temp dir. Other test runs and container engines mount and unmount on the same machine at the same time, so the whole table is
/// no measure. What is new after the test is a leak: it is detached (so one test cannot poison the next) and
/// reported.
/// </summary>
public sealed class MountGuard
{
    private readonly string scope;
    private readonly HashSet<string> before;

    private MountGuard(string scope, HashSet<string> before)
    {
        this.scope = scope;
        this.before = before;
    }

    public static MountGuard Snapshot(string scope) => new(scope, MountPoints(scope).ToHashSet());

    /// <summary>Mount points present now that were not before, deepest first.</summary>
    public List<string> NewMounts() =>
        MountPoints(scope).Where(m => !before.Contains(m)).Distinct().OrderByDescending(m => m.Length).ToList();

    /// <summary>Detaches every new mount; returns what was leaked (empty when clean).</summary>
    public List<string> DetachLeaks()
    {
        var leaked = NewMounts();
        foreach (var m in leaked)
            Native.Umount2(m, Native.MNT_DETACH);
        return leaked;
    }

    private static IEnumerable<string> MountPoints(string scope) =>
        File.ReadAllLines("/proc/self/mountinfo")
            .Select(Unescape)
            .Where(l => l.Contains(scope, StringComparison.Ordinal))
            .Select(l => l.Split(' ')[4]);

    // mountinfo escapes space, tab, newline and backslash as octal; test paths have none of them in the scope.
    private static string Unescape(string s) =>
        System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
