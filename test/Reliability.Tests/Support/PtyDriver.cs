using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests.Support;

/// <summary>What a program did under a terminal: its raw wait status and what it wrote to the terminal.</summary>
public sealed record PtyResult(int WaitStatus, string Output, ProcResult Driver)
{
    public override string ToString() => $"wait status {WaitStatus}; terminal output: {Output.Trim()}";
}

/// <summary>
/// Runs a program as a person at a terminal would: under a new pty (Python's pty.fork: setsid, then
/// the pty as the controlling terminal, the program in its foreground process group), waits until a file appears (the
/// program's sign that it is ready), then types Ctrl-C a number of times, a second apart — the terminal's line
/// discipline sends SIGINT to the whole foreground group, as it does for a person.
/// </summary>
public static class PtyDriver
{
    private const string Script = """
        import json, os, pty, select, sys, time
        presses, ready, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(argv[0], argv)
        out = bytearray()
        def pump(seconds):
            end = time.time() + seconds
            while time.time() < end:
                r, _, _ = select.select([fd], [], [], 0.05)
                if not r:
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if data:
                    out.extend(data)
                else:
                    time.sleep(0.05)
        deadline = time.time() + 60
        while not os.path.exists(ready) and time.time() < deadline:
            pump(0.1)
        for _ in range(presses):
            os.write(fd, b"\x03")
            pump(1.0)
        deadline = time.time() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                break
            if time.time() > deadline:
                os.kill(pid, 9)
                _, status = os.waitpid(pid, 0)
                break
            pump(0.1)
        print(json.dumps({"status": status, "output": out.decode("latin-1")}))
        """;

    public static PtyResult Run(Sandbox sb, IReadOnlyList<string> argv, string readyFile, int presses)
    {
        var script = Path.Combine(sb.Dir, $"pty-driver-{Guid.NewGuid():N}.py");
        File.WriteAllText(script, Script);
        var r = Proc.Run("/usr/bin/python3", [script, presses.ToString(), readyFile, .. argv], sb.Logs, TimeSpan.FromSeconds(150));
        if (r.Status != 0) throw new InvalidOperationException($"the pty driver failed: {r}");
        var o = JObject.Parse(r.Stdout);
        return new PtyResult((int)o["status"]!, (string)o["output"]!, r);
    }
}
