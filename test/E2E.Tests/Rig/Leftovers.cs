namespace Csshim.E2E.Rig;

/// <summary>Last-resort cleanup after a failed test: processes started for a private directory (shims, sandboxes,
/// conmon) carry its path on their command line; mounts made for it live under it.</summary>
public static class Leftovers
{
    public static void KillProcessesMentioning(string path)
    {
        var self = Environment.ProcessId;
        for (var round = 0; round < 3; round++)
        {
            var pids = ProcessesMentioning(path).Where(p => p != self).ToList();
            if (pids.Count == 0) return;
            foreach (var pid in pids)
            {
                TestContext.Progress.WriteLine($"e2e: killing leftover pid {pid}: {CommandLine(pid)}");
                Cmd.Run("kill", "-KILL", pid.ToString());
            }
            Thread.Sleep(300);
        }
    }

    /// <summary>A container's own processes (runc's init, its children) carry neither the private path nor the id
    /// on their command line, but every client puts them in a cgroup named after the container id.</summary>
    public static void KillProcessesOfContainers(IEnumerable<string> ids)
    {
        var wanted = ids.Where(i => i.Length >= 12).ToList();
        if (wanted.Count == 0) return;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            string cgroup;
            try { cgroup = File.ReadAllText($"/proc/{pid}/cgroup"); }
            catch (IOException) { continue; }
            if (!wanted.Any(id => cgroup.Contains(id, StringComparison.Ordinal))) continue;
            TestContext.Progress.WriteLine($"e2e: killing leftover container process {pid}: {CommandLine(pid)}");
            Cmd.Run("kill", "-KILL", pid.ToString());
        }
    }

    public static IEnumerable<int> ProcessesMentioning(string path)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), out var pid)) continue;
            if (CommandLine(pid).Contains(path, StringComparison.Ordinal)) yield return pid;
        }
    }

    public static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    /// <summary>Mount points under path, deepest first (mountinfo escapes spaces as \040).</summary>
    public static List<string> MountsUnder(string path)
    {
        var prefix = path.TrimEnd('/') + "/";
        return File.ReadAllLines("/proc/self/mountinfo")
            .Select(l => l.Split(' ')[4].Replace("\\040", " "))
            .Where(m => m.StartsWith(prefix, StringComparison.Ordinal) || m == path)
            .Distinct()
            .OrderByDescending(m => m.Length)
            .ToList();
    }

    public static void UnmountUnder(string path)
    {
        for (var round = 0; round < 3; round++)
        {
            var mounts = MountsUnder(path);
            if (mounts.Count == 0) return;
            foreach (var m in mounts)
            {
                var r = Cmd.Run("umount", m);
                if (r.ExitCode != 0) Cmd.Run("umount", "-l", m);
            }
        }
    }
}
