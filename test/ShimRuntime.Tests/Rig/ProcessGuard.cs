namespace Csshim.Tests.Rig;

/// <summary>
/// Processes whose command line names a test's temp dir (runsc's sandbox and gofer carry `--root` and
/// `--bundle`): after the test's containers are deleted none may remain. runsc can report a container deleted,
/// or lose its record, while its sandbox keeps running, so the runtime's own `state` is not proof enough.
/// </summary>
public static class ProcessGuard
{
    /// <summary>Waits up to <paramref name="grace"/> for stragglers to exit, SIGKILLs the rest, returns them.</summary>
    public static List<string> KillLeftovers(string scope, TimeSpan grace)
    {
        var deadline = DateTime.UtcNow + grace;
        var left = Find(scope);
        while (left.Count > 0 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
            left = Find(scope);
        }
        foreach (var (pid, _) in left)
            Native.Kill(pid, Native.SIGKILL);
        return left.Select(p => $"{p.Pid} {p.Command}").ToList();
    }

    private static List<(int Pid, string Command)> Find(string scope)
    {
        var self = Environment.ProcessId;
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (cmdline.Contains(scope, StringComparison.Ordinal))
                found.Add((pid, cmdline.Length > 160 ? cmdline[..160] + "..." : cmdline));
        }
        return found;
    }
}
