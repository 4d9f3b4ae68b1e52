namespace Csshim.E2E.Rig;

/// <summary>A daemon (dockerd, containerd) started in its own session with `setsid`, output to a log file, and
/// stopped by its PID and process group: TERM, then KILL after a grace period.</summary>
public sealed class Daemon : IDisposable
{
    public int Pid { get; }
    public string LogFile { get; }
    readonly string _name;

    Daemon(string name, int pid, string logFile)
    {
        _name = name;
        Pid = pid;
        LogFile = logFile;
    }

    /// <summary>sh execs setsid, which (not being a group leader) calls setsid() and execs the daemon: the PID
    /// printed is the daemon's own, and its process group id equals it.</summary>
    public static Daemon Start(string name, string logFile, IEnumerable<string> argv, IDictionary<string, string>? env = null)
    {
        var quoted = string.Join(' ', argv.Select(Quote));
        var envPrefix = env == null ? "" : string.Join(' ', env.Select(kv => $"{kv.Key}={Quote(kv.Value)}")) + " ";
        var r = Cmd.Shell($"{envPrefix}setsid {quoted} >{Quote(logFile)} 2>&1 </dev/null & echo $!").MustSucceed();
        return new Daemon(name, int.Parse(r.Stdout.Trim()), logFile);
    }

    public void WaitReady(Func<bool> ready, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!Alive) throw new InvalidOperationException($"{_name} exited during start-up; log:\n{Log()}");
            if (ready()) return;
            Thread.Sleep(100);
        }
        throw new TimeoutException($"{_name} not ready after {timeout.TotalSeconds}s; log:\n{Log()}");
    }

    public bool Alive
    {
        get
        {
            try { return !File.ReadAllText($"/proc/{Pid}/stat").Contains(") Z "); }
            catch (IOException) { return false; }
        }
    }

    public string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)";

    public void Dispose()
    {
        Cmd.Run("kill", "-TERM", "--", $"-{Pid}");
        for (var i = 0; i < 100 && Alive; i++) Thread.Sleep(100);
        if (Alive)
        {
            TestContext.Progress.WriteLine($"e2e: {_name} (pid {Pid}) ignored TERM for 10s; killing its process group");
            Cmd.Run("kill", "-KILL", "--", $"-{Pid}");
        }
    }

    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
